"""JSON round trips: an orchestrator always sees values exactly as stored."""

from __future__ import annotations

import json
from typing import Any

from .errors import PayloadError, PayloadTooLarge


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
    # Exact types: a StrEnum or IntEnum member must come back as the plain str/int
    # that storage will return on replay.
    if value is None or type(value) in (str, bool, int):
        return value
    return json.loads(encode(value, what))


def check_size(
    value: Any, what: str, limit: int | None, setting: str = "DURABLE_MAX_PAYLOAD_BYTES"
) -> None:
    """Raise :class:`PayloadTooLarge` when ``value`` stored as JSON exceeds ``limit`` bytes.

    Small scalars are not encoded at all (a str is, only when it could be too large).
    """
    if limit is None or value is None or type(value) in (bool, int, float):
        return
    if type(value) is str and len(value) * 4 + 2 <= limit:
        return  # even at 4 bytes per character it fits
    size = len(encode(value, what).encode())
    if size > limit:
        raise PayloadTooLarge(what, size, limit, setting)
