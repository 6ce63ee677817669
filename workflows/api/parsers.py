"""JSON bodies only, and never read more than the size limit (413 before parsing)."""

from __future__ import annotations

import io
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from workflows.conf import conf

from .errors import RequestTooLarge

# Envelope room around the payload limit: ids, keys, and whitespace of pretty-printed JSON.
_ENVELOPE_BYTES = 64 * 1024


def max_body_bytes() -> int:
    """``DURABLE_API_MAX_BODY_BYTES``, by default twice the payload limit plus 64 KiB."""
    configured = conf.API_MAX_BODY_BYTES
    return configured if configured is not None else 2 * conf.MAX_PAYLOAD_BYTES + _ENVELOPE_BYTES


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser behind a size guard; deep nesting is a 400, not a crash."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = max_body_bytes()
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise _too_large(int(declared), limit)
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise _too_large(None, limit)
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None


def _too_large(size: int | None, limit: int) -> RequestTooLarge:
    what = f"{size} bytes" if size is not None else "larger than allowed"
    return RequestTooLarge(
        f"The request body is {what}; the limit is {limit} bytes "
        "(DURABLE_API_MAX_BODY_BYTES). Store large data elsewhere and pass a reference."
    )
