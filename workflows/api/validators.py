"""The API's side of the shared input rules (``workflows.rules``): checks made before
anything reaches DurableClient, as DRF validators and path-parameter checks.

The patterns and messages live in ``workflows.rules``; this module only adapts them to
DRF (a ValidationError names the field, a too-large payload is a 413) and re-exports the
patterns so the OpenAPI schema states exactly what the client enforces.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from .. import rules
from ..conf import conf
from ..engine.errors import InvalidInput
from ..rules import (
    EVENT_NAME_PATTERN,
    ID_PATTERN,
    ID_RULE,
    MAX_PAYLOAD_DEPTH,
    RECORD_ID_PATTERN,
)
from .errors import RequestTooLarge

__all__ = [
    "EVENT_NAME_PATTERN",
    "ID_PATTERN",
    "ID_RULE",
    "MAX_PAYLOAD_DEPTH",
    "RECORD_ID_PATTERN",
    "FullMatch",
    "IdValidator",
    "check_event_name",
    "check_path_id",
    "check_payload",
    "check_record_id",
    "valid_id",
]


class FullMatch(RegexValidator):
    """A RegexValidator (so drf-spectacular puts the pattern into the schema) that must
    match the whole value."""

    def __call__(self, value: Any) -> None:
        if not self.regex.fullmatch(str(value)):
            raise ValidationError(self.message, code=self.code)


class IdValidator(FullMatch):
    """The id rule for a body or query field, saying what is wrong with the value.

    Example::

        instance_id = Text(required=False, validators=[valid_id])
    """

    def __init__(self) -> None:
        super().__init__(ID_PATTERN, f"Not a valid id: {ID_RULE}.")

    def __call__(self, value: Any) -> None:
        problem = rules.id_problem(value)
        if problem is not None:
            raise ValidationError(f"Not a valid id: {problem}; {ID_RULE}.", code=self.code)


valid_id = IdValidator()


def check_path_id(value: str, what: str = "instance id") -> str:
    """An id taken from the URL path; InvalidInput (400) when malformed."""
    return rules.check_instance_id(value, what)


def check_record_id(value: str, what: str) -> int:
    """An approval or compensation id from the URL path, as an int; else InvalidInput."""
    return rules.check_record_id(value, what)


def check_event_name(value: str) -> str:
    """An event name from the URL path; InvalidInput (400) when malformed or reserved."""
    return rules.check_event_name(value)


def check_payload(value: Any, what: str) -> Any:
    """``value`` if it may enter history: a 400 for what the database cannot store (NUL,
    unpaired surrogates, absurd nesting), a 413 for what is over DURABLE_MAX_PAYLOAD_BYTES.

    Example::

        data = Payload("event data")  # a serializer field that calls this
    """
    try:
        rules.check_payload(value, what, conf.MAX_PAYLOAD_BYTES)
    except rules.InputTooLarge as exc:
        raise RequestTooLarge(str(exc)) from None
    except InvalidInput as exc:
        raise ValidationError(str(exc)) from None
    return value
