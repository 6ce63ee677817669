"""Decoding: a JSON form back to a value of a type hint (the walk by hint, and the
decoders of its table)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .converter_hints import (
    BARE_CONTAINERS,
    DICTS,
    LISTS,
    SETS,
    UNIONS,
    Unfit,
    class_hints,
    describe,
    expect,
    hint_name,
    is_any,
    is_pydantic,
    key_part,
)


def parsed(parse: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    """A decoder of text that ``parse`` reads (ISO dates, UUIDs)."""

    def decode(data: Any) -> Any:
        expect(data, str, f"{name} text")
        try:
            return parse(data)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise Unfit(f"{data!r} is not a {name} ({exc})") from None

    return decode


def datetime_from(text: str) -> datetime:
    if text.endswith("]") and "[" in text:
        text, key = text[:-1].split("[", 1)
        value, zone = datetime.fromisoformat(text), ZoneInfo(key)
        # The same wall time and fold as encoded (a time in a DST gap or overlap too):
        # the fold whose offset is the one written down.
        for fold in (0, 1):
            local = value.replace(tzinfo=zone, fold=fold)
            if value.tzinfo is None or local.utcoffset() == value.utcoffset():
                return local
        return value.astimezone(zone)  # an offset the zone never had here: the instant
    return datetime.fromisoformat(text)


def decimal_from(data: Any) -> Decimal:
    expect(data, (str, int), "a decimal as text")
    try:
        return Decimal(data)
    except InvalidOperation:
        raise Unfit(f"{data!r} is not a decimal number") from None


def timedelta_from(data: Any) -> timedelta:
    expect(data, (int, float), "a duration in seconds")
    return timedelta(seconds=data)


def float_from(data: Any) -> float:
    expect(data, (int, float), "a number")
    return float(data)


def exactly(kind: type, name: str) -> Callable[[Any], Any]:
    def decode(data: Any) -> Any:
        expect(data, kind, name)
        return data

    return decode


def nothing(data: Any) -> None:
    if data is not None:
        raise Unfit(f"expected null (None), got {describe(data)}")


class Decoding:
    """The JSON -> value walk of :class:`~workflows.engine.converter.DataConverter`,
    dispatched on the hint."""

    decoders: ClassVar[dict[type, Callable[[Any], Any]]] = {}

    def _decode(self, data: Any, hint: Any) -> Any:
        if is_any(hint) or isinstance(hint, typing.TypeVar):
            return data
        if isinstance(hint, type):
            decoder = self.decoders.get(hint)
            if decoder is not None:
                return decoder(data)
            if hint in BARE_CONTAINERS:  # `dict`, `list`, `Mapping`: checked like dict[Any, Any]
                return self._decode_generic(data, hint, hint, ())
        origin = typing.get_origin(hint)
        if origin is not None:
            return self._decode_generic(data, hint, origin, typing.get_args(hint))
        if hasattr(hint, "__supertype__"):  # typing.NewType
            return self._decode(data, hint.__supertype__)
        if isinstance(hint, type):
            return self._decode_class(data, hint)
        if isinstance(hint, str | typing.ForwardRef):
            raise Unfit(
                f"the type hint {hint!r} is unresolved text (define the type at module level)"
            )
        raise Unfit(f"the type hint {hint!r} has no converter")

    def _decode_generic(self, data: Any, hint: Any, origin: Any, args: tuple[Any, ...]) -> Any:
        if origin in UNIONS:
            return self._decode_union(data, args)
        if origin is typing.Annotated:
            return self._decode(data, args[0])
        if origin is typing.Literal:
            if data in args and any(type(data) is type(arg) for arg in args if arg == data):
                return data
            raise Unfit(f"expected one of {', '.join(map(repr, args))}, got {describe(data)}")
        if origin in LISTS:
            return self._decode_items(data, args[0] if args else Any)
        if origin is tuple:
            return self._decode_tuple(data, args)
        if origin in SETS:
            return SETS[origin](self._decode_items(data, args[0] if args else Any))
        if origin in DICTS:
            key, value = args if len(args) == 2 else (Any, Any)
            return self._decode_dict(data, key, value)
        if isinstance(origin, type):
            return self._decode_class(data, origin)
        raise Unfit(f"the type hint {hint_name(hint)} has no converter")

    def _decode_union(self, data: Any, args: tuple[Any, ...]) -> Any:
        if data is None and type(None) in args:
            return None
        reasons = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return self._decode(data, arg)
            except Unfit as bad:
                at = f" at {bad.path}" if bad.path else ""
                reasons.append(f"as {hint_name(arg)}{at}: {bad.reason}")
        raise Unfit("; ".join(reasons))

    def _decode_items(self, data: Any, hint: Any) -> list[Any]:
        expect(data, list, "a list")
        if is_any(hint):
            return list(data)
        out = []
        for index, item in enumerate(data):
            try:
                out.append(self._decode(item, hint))
            except Unfit as bad:
                raise bad.at(f"[{index}]") from None
        return out

    def _decode_tuple(self, data: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return tuple(self._decode_items(data, args[0] if args else Any))
        if args == ((),):  # tuple[()]
            args = ()
        expect(data, list, "a list")
        if len(data) != len(args):
            raise Unfit(f"expected {len(args)} items, got {len(data)}")
        out = []
        for index, (item, hint) in enumerate(zip(data, args, strict=True)):
            try:
                out.append(self._decode(item, hint))
            except Unfit as bad:
                raise bad.at(f"[{index}]") from None
        return tuple(out)

    def _decode_dict(self, data: Any, key_hint: Any, value_hint: Any) -> dict[Any, Any]:
        expect(data, dict, "an object")
        out = {}
        for key, item in data.items():
            try:
                out[self._decode_key(key, key_hint)] = self._decode(item, value_hint)
            except Unfit as bad:
                raise bad.at(key_part(key)) from None
        return out

    def _decode_key(self, key: str, hint: Any) -> Any:
        if is_any(hint) or hint is str:
            return key
        if hint is int or isinstance(hint, type) and issubclass(hint, Enum | int):
            # JSON keys are text: a whole-number key (or an int Enum's value) is read back.
            try:
                number = int(key)
            except ValueError:
                number = None
            if hint is int:
                if number is None:
                    raise Unfit(f"the key {key!r} is not a whole number")
                return number
            try:
                return self._decode(number if number is not None else key, hint)
            except Unfit:
                return self._decode(key, hint)
        return self._decode(key, hint)

    def _decode_class(self, data: Any, cls: type) -> Any:
        if issubclass(cls, Enum):
            try:
                return cls(data)
            except ValueError:
                choices = ", ".join(repr(m.value) for m in cls)
                raise Unfit(f"{data!r} is not a {cls.__name__} (one of {choices})") from None
        if dataclasses.is_dataclass(cls):
            return self._decode_dataclass(data, cls)
        if is_pydantic(cls):
            try:
                return cls.model_validate(data)  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, not imported
                raise pydantic_unfit(exc) from None
        if typing.is_typeddict(cls):
            return self._decode_typeddict(data, cls)
        for kind in cls.__mro__[1:-1]:
            # A subclass of a decoded type (e.g. a datetime subclass) is decoded as its base.
            if kind in self.decoders:
                return self.decoders[kind](data)
        if isinstance(data, cls):
            return data
        raise Unfit(
            f"expected {cls.__name__}, got {describe(data)}; {cls.__module__}.{cls.__qualname__} "
            "has no converter (use a dataclass or a pydantic model, or add it to the "
            "converter's decoders)"
        )

    def _decode_dataclass(self, data: Any, cls: type) -> Any:
        expect(data, dict, f"an object of {cls.__name__}'s fields")
        hints = class_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            if f.name not in data:
                missing = f.default is dataclasses.MISSING
                if missing and f.default_factory is dataclasses.MISSING:
                    raise Unfit(f"{cls.__name__} needs the field {f.name!r}, which is missing")
                continue
            try:
                values[f.name] = self._decode(data[f.name], hints.get(f.name, Any))
            except Unfit as bad:
                raise bad.at(f".{f.name}") from None
        # Keys the class no longer has are left out: history written by older code replays.
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise Unfit(f"{cls.__name__}(...) refused the fields ({exc})") from None

    def _decode_typeddict(self, data: Any, cls: type) -> dict[str, Any]:
        expect(data, dict, f"an object of {cls.__name__}'s keys")
        hints = class_hints(cls)
        missing = sorted(getattr(cls, "__required_keys__", set()) - set(data))
        if missing:
            raise Unfit(f"{cls.__name__} needs the key(s) {', '.join(map(repr, missing))}")
        out = {}
        for key, item in data.items():
            try:
                out[key] = self._decode(item, hints.get(key, Any))
            except Unfit as bad:
                raise bad.at(f".{key}") from None
        return out


def pydantic_unfit(exc: Exception) -> Unfit:
    """The first of a ValidationError's errors, at its path (duck typed: ``errors()``)."""
    try:
        errors = exc.errors()  # type: ignore[attr-defined]
        first = errors[0]
        bad = Unfit(first["msg"] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
        for part in reversed(first["loc"]):
            bad.at(key_part(part) if isinstance(part, str) else f"[{part}]")
        return bad
    except Exception:  # noqa: BLE001 - not a ValidationError: its text
        return Unfit(" ".join(str(exc).split()))
