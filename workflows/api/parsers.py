"""JSON bodies only, read by the shared rules and never past the size limit (413).

The limit is enforced first by ``workflows.api.limits.BodyLimitMiddleware``, before the
body is read at all; the parser checks again, so it stays safe where the middleware is not
installed (a test's own view, another URLconf).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from workflows import rules
from workflows.conf import conf
from workflows.engine.errors import InvalidInput

from .errors import RequestTooLarge

# Envelope room around the payload limit: ids, keys, and whitespace of pretty-printed JSON.
_ENVELOPE_BYTES = 64 * 1024


def max_body_bytes() -> int:
    """``DURABLE_API_MAX_BODY_BYTES``, by default twice the payload limit plus 64 KiB."""
    configured = conf.API_MAX_BODY_BYTES
    return configured if configured is not None else 2 * conf.MAX_PAYLOAD_BYTES + _ENVELOPE_BYTES


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser behind a size guard, reading with ``rules.load_json``: deep
    nesting, over-long numbers, NaN and bytes that are not text are a 400
    ``malformed_json`` naming the problem, never a crash."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = max_body_bytes()
        context = parser_context or {}
        request = context.get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large(int(declared), limit)
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise too_large(None, limit)
        encoding = context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        try:
            # The same reader as the UI's and CLI's JSON fields; the fields' values are then
            # judged one by one by the serializers (rules.check_payload), naming the field.
            return rules.load_json(text, "request body")
        except InvalidInput as exc:
            # "JSON parse error" and the malformed_json code, like DRF's own parse errors.
            raise ParseError(f"JSON parse error - {exc}") from None


def too_large(size: int | None, limit: int) -> RequestTooLarge:
    """The API's 413 for a body of ``size`` bytes (None: unknown, read past the limit).

    Example::

        raise too_large(3_000_000, 589_824)  # -> 413 {"error": "request_too_large", ...}
    """
    what = f"{size} bytes" if size is not None else "larger than allowed"
    return RequestTooLarge(
        f"The request body is {what}; the limit is {limit} bytes "
        "(DURABLE_API_MAX_BODY_BYTES). Store large data elsewhere and pass a reference."
    )
