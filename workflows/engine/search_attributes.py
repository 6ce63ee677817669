"""Custom search attributes: the checks of ``ctx.upsert_search_attributes``.

Names are identifiers; values are one JSON scalar each (text, number, true/false, or
None to remove the attribute), so that a console, API or CLI filter compares like with
like and an index can hold them. The limits keep the instance row small.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from .errors import WorkflowCodeError

NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
NAME_RULE: Final = "use 1-64 letters, digits and _, starting with a letter or _"
MAX_ATTRIBUTES: Final = 20  # per instance, after merging
MAX_TEXT_LENGTH: Final = 200  # one text value

_NAME = re.compile(NAME_PATTERN)
_SCALARS = (str, int, float, bool, type(None))


def name_problem(name: Any) -> str | None:
    """Why ``name`` is not a search attribute name, or None when it is one."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return f"search attribute name {name!r} is not valid: {NAME_RULE}"
    return None


def check_search_attributes(
    attributes: Any, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The checked attributes to merge; raises :class:`WorkflowCodeError` saying what is wrong.

    ``current``: the attributes already set, to check the count after the merge.

    Example::

        check_search_attributes({"customer": "acme", "amount": 120.5})  # -> same dict
        check_search_attributes({"bad name": 1})  # WorkflowCodeError: ... not valid ...
    """
    what = "upsert_search_attributes"
    if not isinstance(attributes, Mapping) or not attributes:
        raise WorkflowCodeError(
            f'{what} takes a non-empty dict of names to values, e.g. {{"customer": "acme"}}.'
        )
    checked: dict[str, Any] = {}
    for name, value in attributes.items():
        problem = name_problem(name)
        if problem:
            raise WorkflowCodeError(f"{what}: {problem}.")
        if not isinstance(value, _SCALARS):
            raise WorkflowCodeError(
                f"{what}: the value of {name!r} is a {type(value).__name__}; use text, a "
                "number, True/False, or None to remove the attribute."
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise WorkflowCodeError(f"{what}: the value of {name!r} must be a finite number.")
        if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
            raise WorkflowCodeError(
                f"{what}: the value of {name!r} has {len(value)} characters; "
                f"at most {MAX_TEXT_LENGTH} are allowed."
            )
        checked[name] = value
    merged = merge(current or {}, checked)
    if len(merged) > MAX_ATTRIBUTES:
        raise WorkflowCodeError(
            f"{what}: an instance may have at most {MAX_ATTRIBUTES} search attributes; "
            f"this would make {len(merged)}. Remove some with None."
        )
    return checked


def merge(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with ``update`` applied: a None value removes that attribute."""
    merged = dict(current)
    for name, value in update.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged
