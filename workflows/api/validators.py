"""Checks on ids, names and JSON payloads made before anything reaches DurableClient.

The patterns repeat the client's rules so that the OpenAPI schema can state them; they
match the whole value (a trailing newline is not allowed).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from ..engine.errors import InvalidInput
from .errors import RequestTooLarge

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$"
EVENT_NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,200}$"
# Approval and compensation ids: database keys (at most 18 digits, so they fit a bigint).
RECORD_ID_PATTERN = r"^[1-9][0-9]{0,17}$"
MAX_PAYLOAD_DEPTH = 100


class FullMatch(RegexValidator):
    """A RegexValidator (so drf-spectacular puts the pattern into the schema) that must
    match the whole value."""

    def __call__(self, value: Any) -> None:
        if not self.regex.fullmatch(str(value)):
            raise ValidationError(self.message, code=self.code)


ID_RULE = "use 1-200 letters, digits and _ . : @ -, starting with a letter or digit"
valid_id = FullMatch(ID_PATTERN, f"Not a valid id: {ID_RULE}.")


def check_path_id(value: str, what: str = "instance id") -> str:
    if not re.fullmatch(ID_PATTERN, value):
        raise InvalidInput(f"Invalid {what} {value!r}: {ID_RULE}.")
    return value


def check_record_id(value: str, what: str) -> int:
    if not re.fullmatch(RECORD_ID_PATTERN, value):
        raise InvalidInput(f"Invalid {what} {value!r}: use a positive whole number.")
    return int(value)


def check_event_name(value: str) -> str:
    if not re.fullmatch(EVENT_NAME_PATTERN, value):
        raise InvalidInput(f"Invalid event name {value!r}: use 1-200 letters, digits and _ . : -.")
    return value


def check_payload(value: Any, what: str) -> Any:
    """Reject what the database cannot store (NUL, unpaired surrogates, absurd nesting) with
    a 400, and what is over DURABLE_MAX_PAYLOAD_BYTES with a 413."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            raise ValidationError(f"The {what} is nested deeper than {MAX_PAYLOAD_DEPTH} levels.")
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, what)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    try:
        size = len(
            json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        )
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"The {what} is not valid JSON data ({exc}).") from None
    limit = int(settings.DURABLE_MAX_PAYLOAD_BYTES)
    if size > limit:
        raise RequestTooLarge(
            f"The {what} is {size} bytes, over the limit of {limit} bytes "
            "(DURABLE_MAX_PAYLOAD_BYTES). Store large data elsewhere and pass a reference."
        )
    return value


def _check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise ValidationError(
            f"The {what} contains a NUL character (\\u0000), which cannot be stored."
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"The {what} contains an unpaired surrogate (\\ud800-\\udfff), which is not valid "
            "Unicode text."
        ) from None
