"""Checking a sample's input in its orchestrator: clear messages, deterministic.

A bad input fails the instance at its first step with a ``SampleInputError`` that
says which field is wrong, instead of failing later inside an activity.
"""

from __future__ import annotations

from typing import Any


class SampleInputError(ValueError):
    """The input of a sample workflow is malformed."""


def require_object(value: Any, sample: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SampleInputError(f"{sample} takes a JSON object as input, not {value!r}.")
    return value


def text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise SampleInputError(f"{key!r} must be a non-empty string, not {value!r}.")
    return value.strip()


def number(
    data: dict[str, Any],
    key: str,
    default: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    whole: bool = False,
) -> Any:
    """An int (``whole``) or float field within ``[minimum, maximum]``."""
    value = data.get(key, default)
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if whole else "a number"
        raise SampleInputError(f"{key!r} must be {kind}, not {value!r}.")
    if minimum is not None and value < minimum:
        raise SampleInputError(f"{key!r} must be at least {minimum}, not {value!r}.")
    if maximum is not None and value > maximum:
        raise SampleInputError(f"{key!r} must be at most {maximum}, not {value!r}.")
    return value
