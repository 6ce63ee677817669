"""What the converter's walks share: the error that carries a field's path out of the
recursion, how data and hints are named in messages, and which hints mean "no conversion".
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from typing import Any


class Unfit(Exception):
    """A value or datum that does not convert; containers prepend their part of the path
    on the way out, so a value that converts costs no path bookkeeping."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str] = []  # innermost first

    def at(self, part: str) -> Unfit:
        self.parts.append(part)
        return self

    @property
    def path(self) -> str:
        return "".join(reversed(self.parts))


# Origins of generic hints (list[int], dict[str, X], ...) by the container they decode to.
LISTS = {list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection}
SETS = {set: set, frozenset: frozenset, cabc.Set: frozenset, cabc.MutableSet: set}
DICTS = {dict, cabc.Mapping, cabc.MutableMapping}
UNIONS = {typing.Union, types.UnionType}
# A bare container hint (``dict``, ``list``, ``Mapping``...) is its generic form without
# arguments: the data must still be that container ("expected an object, got null").
BARE_CONTAINERS = frozenset({*LISTS, *SETS, *DICTS, tuple})


def is_any(hint: Any) -> bool:
    """No conversion: no hint, ``Any`` or ``object`` (the value stays its JSON form)."""
    return hint is Any or hint is object or hint is inspect.Parameter.empty


def is_pydantic(value: Any) -> bool:
    return hasattr(value, "model_dump") and hasattr(value, "model_validate")


def where(what: str, path: str) -> str:
    return f"{what} at {path}" if path else what


def describe(data: Any) -> str:
    """What was found, for messages: ``null (None)``, ``str '5'``, ``float 1.5``."""
    if data is None:
        return "null (None)"
    text = repr(data)
    return f"{type(data).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def hint_name(hint: Any) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return repr(hint).replace("typing.", "")


def key_part(key: Any) -> str:
    return f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{key!r}]"


def expect(data: Any, kind: type | tuple[type, ...], name: str) -> None:
    """Raise :class:`Unfit` saying what was expected and what was found."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(data, kind) or isinstance(data, bool) and bool not in kinds:
        raise Unfit(f"expected {name}, got {describe(data)}")


_CLASS_HINTS: dict[type, dict[str, Any]] = {}


def class_hints(cls: type) -> dict[str, Any]:
    """A dataclass's or TypedDict's field hints, resolved once per class."""
    hints = _CLASS_HINTS.get(cls)
    if hints is None:
        try:
            hints = typing.get_type_hints(cls)
        except Exception as exc:  # noqa: BLE001 - NameError, or a bad annotation: same advice
            raise Unfit(
                f"the type hints of {cls.__qualname__} cannot be resolved ({exc}); define the "
                "types they name at module level"
            ) from None
        _CLASS_HINTS[cls] = hints
    return hints
