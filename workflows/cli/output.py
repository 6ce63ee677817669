"""Printing results for humans or, with --json, for scripts; reading JSON options."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from .. import rules


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def emit(stdout: Any, options: dict[str, Any], value: Any, human: str) -> None:
    if options.get("json"):
        stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=True))
    else:
        stdout.write(human)


def parse_json(text: str | None, what: str) -> Any:
    """An option's JSON text (absent or empty: None) by the shared rule, which says where
    the text broke; InvalidInput otherwise.

    Example::

        parse_json(options["data"], "--data")
    """
    return rules.parse_json(text, what)
