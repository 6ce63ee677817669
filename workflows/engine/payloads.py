"""JSON round trips: an orchestrator always sees values exactly as stored."""

from __future__ import annotations

import json
from typing import Any

from .errors import PayloadError


def encode(value: Any, what: str = "value") -> str:
    """Serialize ``value`` to JSON text, or raise a :class:`PayloadError` naming ``what``."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PayloadError(
            f"The {what} is not JSON-serializable ({exc}). Pass plain JSON data "
            "(dict, list, str, int, float, bool, None); convert dates, decimals and "
            "objects to strings or dicts first."
        ) from None


def round_trip(value: Any, what: str = "value") -> Any:
    """``value`` as it will come back from storage (tuples become lists, etc.)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return json.loads(encode(value, what))
