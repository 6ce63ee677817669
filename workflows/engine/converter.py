"""Typed payloads: Python values to the JSON that history stores, and back by type hint.

Storage stays JSON. A value is turned into its JSON form where it enters history
(:meth:`DataConverter.to_json`), and the receiver rebuilds a typed value from that
stored form with its own type hint (:meth:`DataConverter.from_json`): an activity's
parameter hint for its input, its return annotation for the result the orchestrator
gets, the orchestrator's hints for its input and output. Decoding always starts from
the stored form, so the first run and every replay see equal values. Without a hint
(or with ``Any``) the JSON form itself is what the receiver gets.

JSON forms: dataclass -> object of its fields; datetime/date/time -> ISO 8601 text
(a ``ZoneInfo`` zone is kept as ``[Europe/Berlin]`` after the offset, RFC 9557);
timedelta -> seconds; Decimal, UUID -> text; Enum -> its value; tuple -> list;
pydantic model -> ``model_dump(mode="json")`` (found by duck typing: the engine never
imports pydantic). A set, bytes, NaN or an object of any other class is refused with
a :class:`PayloadError` naming the payload and the path of the bad field.

A project plugs its own subclass in with ``DURABLE_DATA_CONVERTER``; extra types go
into the two tables::

    class MoneyConverter(DataConverter):
        encoders = {**DataConverter.encoders, Money: lambda m: [str(m.amount), m.currency]}
        decoders = {**DataConverter.decoders, Money: lambda data: Money(Decimal(data[0]), data[1])}
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import inspect
import json
import math
import types
import typing
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import PayloadError

_ACCEPTED = (
    "Pass plain JSON data (dict, list, str, int, float, bool, None), or dataclasses, pydantic "
    "models, datetime/date/time/timedelta, Decimal, UUID or Enum values."
)


class _Bad(Exception):
    """A value or datum that does not convert; containers prepend their part of the path
    on the way out, so a value that converts costs no path bookkeeping."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str] = []  # innermost first

    def at(self, part: str) -> _Bad:
        self.parts.append(part)
        return self

    @property
    def path(self) -> str:
        return "".join(reversed(self.parts))


def _where(what: str, path: str) -> str:
    return f"{what} at {path}" if path else what


# -- encoding: value -> JSON form ---------------------------------------------------------
def _datetime_json(value: datetime) -> str:
    text = value.isoformat()
    # The offset alone loses the zone's rules (DST); the key keeps them.
    key = getattr(value.tzinfo, "key", None) if isinstance(value.tzinfo, ZoneInfo) else None
    return f"{text}[{key}]" if key else text


def _set_refused(value: Any) -> Any:
    raise _Bad(
        f"{type(value).__name__} is not a JSON type (its order differs between processes): "
        "pass a sorted list or a tuple"
    )


def _bytes_refused(value: Any) -> Any:
    raise _Bad(
        f"{type(value).__name__} is not a JSON type: store the bytes elsewhere and pass a "
        "reference, or encode them as text (base64)"
    )


def _float_json(value: float) -> float:
    if not math.isfinite(value):
        raise _Bad(f"{value} is not a JSON number (JSON has no NaN or infinity)")
    return value


# -- decoding: JSON form + hint -> value --------------------------------------------------
def _expect(data: Any, kind: type | tuple[type, ...], name: str) -> None:
    if not isinstance(data, kind) or isinstance(data, bool) and bool not in _as_tuple(kind):
        raise _Bad(f"expected {name}, got {_describe(data)}")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _describe(data: Any) -> str:
    text = repr(data)
    return f"{type(data).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _parsed(parse: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    def decode(data: Any) -> Any:
        _expect(data, str, f"{name} text")
        try:
            return parse(data)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise _Bad(f"{data!r} is not a {name} ({exc})") from None

    return decode


def _datetime_from(text: str) -> datetime:
    if text.endswith("]") and "[" in text:
        text, key = text[:-1].split("[", 1)
        parsed, zone = datetime.fromisoformat(text), ZoneInfo(key)
        # The same wall time and fold as encoded (a time in a DST gap or overlap too):
        # the fold whose offset is the one written down.
        for fold in (0, 1):
            local = parsed.replace(tzinfo=zone, fold=fold)
            if parsed.tzinfo is None or local.utcoffset() == parsed.utcoffset():
                return local
        return parsed.astimezone(zone)  # an offset the zone never had here: the instant
    return datetime.fromisoformat(text)


def _decimal_from(data: Any) -> Decimal:
    _expect(data, (str, int), "a decimal as text")
    try:
        return Decimal(data)
    except InvalidOperation:
        raise _Bad(f"{data!r} is not a decimal number") from None


def _timedelta_from(data: Any) -> timedelta:
    _expect(data, (int, float), "a duration in seconds")
    return timedelta(seconds=data)


def _float_from(data: Any) -> float:
    _expect(data, (int, float), "a number")
    return float(data)


def _exactly(kind: type, name: str) -> Callable[[Any], Any]:
    def decode(data: Any) -> Any:
        _expect(data, kind, name)
        return data

    return decode


def _nothing(data: Any) -> None:
    if data is not None:
        raise _Bad(f"expected null (None), got {_describe(data)}")


# Origins of generic hints (list[int], dict[str, X], ...) by the container they decode to.
_LISTS = {list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection}
_SETS = {set: set, frozenset: frozenset, cabc.Set: frozenset, cabc.MutableSet: set}
_DICTS = {dict, cabc.Mapping, cabc.MutableMapping}
_UNIONS = {typing.Union, types.UnionType}


def _is_any(hint: Any) -> bool:
    """No conversion: no hint, ``Any`` or ``object`` (the value stays its JSON form)."""
    return hint is Any or hint is object or hint is inspect.Parameter.empty


class DataConverter:
    """Converts payloads to their stored JSON form and back, guided by type hints.

    Example::

        @dataclass
        class Line:
            sku: str
            price: Decimal

        converter = DataConverter()
        data = converter.to_json([Line("A-1", Decimal("9.90"))], "input")
        # [{"sku": "A-1", "price": "9.90"}]
        converter.from_json(data, list[Line], "input")
        # [Line(sku='A-1', price=Decimal('9.90'))]

    Subclass it and extend :attr:`encoders` (exact class -> JSON form) and
    :attr:`decoders` (class in a hint -> value from the JSON form) for other types.
    """

    encoders: ClassVar[dict[type, Callable[[Any], Any]]] = {
        datetime: _datetime_json,
        date: date.isoformat,
        time: time.isoformat,
        timedelta: timedelta.total_seconds,
        Decimal: str,
        UUID: str,
        set: _set_refused,
        frozenset: _set_refused,
        bytes: _bytes_refused,
        bytearray: _bytes_refused,
    }
    decoders: ClassVar[dict[type, Callable[[Any], Any]]] = {
        datetime: _parsed(_datetime_from, "datetime"),
        date: _parsed(date.fromisoformat, "date"),
        time: _parsed(time.fromisoformat, "time"),
        timedelta: _timedelta_from,
        Decimal: _decimal_from,
        UUID: _parsed(UUID, "UUID"),
        str: _exactly(str, "text"),
        int: _exactly(int, "a whole number"),
        float: _float_from,
        bool: _exactly(bool, "true or false"),
        type(None): _nothing,
    }

    # -- public ---------------------------------------------------------------------------
    def to_json(self, value: Any, what: str = "value") -> Any:
        """The JSON form of ``value`` (new containers, plain JSON types only).

        Raises :class:`PayloadError` naming ``what`` and the path of a bad field, e.g.
        ``The input of activity 'charge' at .items[2].price is not JSON-serializable: ...``.
        """
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        try:
            # Plain JSON (the common case) converts at C speed, as it always did.
            return json.loads(json.dumps(value, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError):
            pass  # something to convert (or refuse with its path): the walk below
        try:
            return self._encode(value)
        except _Bad as bad:
            raise PayloadError(
                f"The {_where(what, bad.path)} is not JSON-serializable: {bad.reason}. {_ACCEPTED}"
            ) from None
        except RecursionError:
            raise PayloadError(
                f"The {what} is not JSON-serializable: it is nested too deeply, or contains "
                f"itself. {_ACCEPTED}"
            ) from None

    def from_json(self, data: Any, hint: Any = Any, what: str = "value") -> Any:
        """A value of type ``hint`` rebuilt from its JSON form ``data``.

        ``Any`` (or no hint) returns ``data`` itself. Raises :class:`PayloadError`
        naming ``what`` and the path where ``data`` does not fit ``hint``.
        """
        if _is_any(hint):
            return data
        try:
            return self._decode(data, hint)
        except _Bad as bad:
            raise PayloadError(
                f"The {_where(what, bad.path)} does not fit its type {_hint_name(hint)}: "
                f"{bad.reason}. Pass a value of that type (or its JSON form)."
            ) from None

    def encode(self, value: Any, what: str = "value", hint: Any = Any) -> Any:
        """``value``'s JSON form, checked against ``hint`` where it is given.

        The call site's check: a value its receiver could not decode fails here, in
        the code that passed it, and not later in a worker.
        """
        data = self.to_json(value, what)
        if not _is_any(hint):
            self.from_json(data, hint, what)
        return data

    # -- encoding ---------------------------------------------------------------------------
    def _encode(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is float:
            return _float_json(value)
        if kind is dict:
            return self._encode_dict(value)
        if kind is list or kind is tuple:
            return self._encode_list(value)
        encoder = self.encoders.get(kind)
        if encoder is not None:
            return encoder(value)
        return self._encode_other(value)

    def _encode_list(self, value: Any) -> list[Any]:
        out: list[Any] = []
        for index, item in enumerate(value):
            try:  # zero cost in Python 3.11 until something is bad
                out.append(self._encode(item))
            except _Bad as bad:
                raise bad.at(f"[{index}]") from None
        return out

    def _encode_dict(self, value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            try:
                out[self._encode_key(key)] = self._encode(item)
            except _Bad as bad:
                raise bad.at(_key_part(key)) from None
        return out

    def _encode_key(self, key: Any) -> str:
        if type(key) is str:
            return key
        data = self._encode(key)
        # JSON objects have text keys; a dict[int, X] hint turns them back into ints.
        if isinstance(data, bool) or not isinstance(data, str | int):
            raise _Bad(f"a dict key must be text or a whole number, got {_describe(key)}")
        return str(data)

    def _encode_other(self, value: Any) -> Any:
        if isinstance(value, Enum):
            return self._encode(value.value)
        for plain in (str, int, float):  # other subclasses: their plain value
            if isinstance(value, plain):
                return self._encode(plain(value))
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out: dict[str, Any] = {}
            for f in dataclasses.fields(value):
                try:
                    out[f.name] = self._encode(getattr(value, f.name))
                except _Bad as bad:
                    raise bad.at(f".{f.name}") from None
            return out
        if _is_pydantic(value) and not isinstance(value, type):
            try:
                dumped = value.model_dump(mode="json")
            except Exception as exc:  # noqa: BLE001 - any reason pydantic refuses: one message
                raise _Bad(f"{type(value).__name__}.model_dump failed ({exc})") from None
            return self._encode(dumped)
        for kind in type(value).__mro__[1:]:
            encoder = self.encoders.get(kind)
            if encoder is not None:
                return encoder(value)
        if isinstance(value, cabc.Mapping):
            return self._encode_dict(value)
        if isinstance(value, list | tuple):
            return self._encode_list(value)
        raise _Bad(
            f"{type(value).__module__}.{type(value).__qualname__} has no JSON form (make it "
            "a dataclass or a pydantic model, or add it to the converter's encoders)"
        )

    # -- decoding ---------------------------------------------------------------------------
    def _decode(self, data: Any, hint: Any) -> Any:
        if _is_any(hint) or isinstance(hint, typing.TypeVar):
            return data
        decoder = self.decoders.get(hint) if isinstance(hint, type) else None
        if decoder is not None:
            return decoder(data)
        origin = typing.get_origin(hint)
        if origin is not None:
            return self._decode_generic(data, hint, origin, typing.get_args(hint))
        if hasattr(hint, "__supertype__"):  # typing.NewType
            return self._decode(data, hint.__supertype__)
        if isinstance(hint, type):
            return self._decode_class(data, hint)
        if isinstance(hint, str | typing.ForwardRef):
            raise _Bad(
                f"the type hint {hint!r} is unresolved text (define the type at module level)"
            )
        raise _Bad(f"the type hint {hint!r} has no converter")

    def _decode_generic(self, data: Any, hint: Any, origin: Any, args: tuple[Any, ...]) -> Any:
        if origin in _UNIONS:
            return self._decode_union(data, args)
        if origin is typing.Annotated:
            return self._decode(data, args[0])
        if origin is typing.Literal:
            if data in args and any(type(data) is type(arg) for arg in args if arg == data):
                return data
            raise _Bad(f"expected one of {', '.join(map(repr, args))}, got {_describe(data)}")
        if origin in _LISTS:
            return self._decode_items(data, args[0] if args else Any)
        if origin is tuple:
            return self._decode_tuple(data, args)
        if origin in _SETS:
            return _SETS[origin](self._decode_items(data, args[0] if args else Any))
        if origin in _DICTS:
            key, value = args if len(args) == 2 else (Any, Any)
            return self._decode_dict(data, key, value)
        if isinstance(origin, type):
            return self._decode_class(data, origin)
        raise _Bad(f"the type hint {_hint_name(hint)} has no converter")

    def _decode_union(self, data: Any, args: tuple[Any, ...]) -> Any:
        if data is None and type(None) in args:
            return None
        reasons = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return self._decode(data, arg)
            except _Bad as bad:
                where = f" at {bad.path}" if bad.path else ""
                reasons.append(f"as {_hint_name(arg)}{where}: {bad.reason}")
        raise _Bad("; ".join(reasons))

    def _decode_items(self, data: Any, hint: Any) -> list[Any]:
        _expect(data, list, "a list")
        if _is_any(hint):
            return list(data)
        out = []
        for index, item in enumerate(data):
            try:
                out.append(self._decode(item, hint))
            except _Bad as bad:
                raise bad.at(f"[{index}]") from None
        return out

    def _decode_tuple(self, data: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return tuple(self._decode_items(data, args[0] if args else Any))
        if args == ((),):  # tuple[()]
            args = ()
        _expect(data, list, "a list")
        if len(data) != len(args):
            raise _Bad(f"expected {len(args)} items, got {len(data)}")
        out = []
        for index, (item, hint) in enumerate(zip(data, args, strict=True)):
            try:
                out.append(self._decode(item, hint))
            except _Bad as bad:
                raise bad.at(f"[{index}]") from None
        return tuple(out)

    def _decode_dict(self, data: Any, key_hint: Any, value_hint: Any) -> dict[Any, Any]:
        _expect(data, dict, "an object")
        out = {}
        for key, item in data.items():
            try:
                out[self._decode_key(key, key_hint)] = self._decode(item, value_hint)
            except _Bad as bad:
                raise bad.at(_key_part(key)) from None
        return out

    def _decode_key(self, key: str, hint: Any) -> Any:
        if _is_any(hint) or hint is str:
            return key
        if hint is int or isinstance(hint, type) and issubclass(hint, Enum | int):
            # JSON keys are text: a whole-number key (or an int Enum's value) is read back.
            try:
                number = int(key)
            except ValueError:
                number = None
            if hint is int:
                if number is None:
                    raise _Bad(f"the key {key!r} is not a whole number")
                return number
            try:
                return self._decode(number if number is not None else key, hint)
            except _Bad:
                return self._decode(key, hint)
        return self._decode(key, hint)

    def _decode_class(self, data: Any, cls: type) -> Any:
        if issubclass(cls, Enum):
            try:
                return cls(data)
            except ValueError:
                choices = ", ".join(repr(m.value) for m in cls)
                raise _Bad(f"{data!r} is not a {cls.__name__} (one of {choices})") from None
        if dataclasses.is_dataclass(cls):
            return self._decode_dataclass(data, cls)
        if _is_pydantic(cls):
            try:
                return cls.model_validate(data)  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, not imported
                raise _pydantic_bad(exc) from None
        if typing.is_typeddict(cls):
            return self._decode_typeddict(data, cls)
        for kind in cls.__mro__[1:-1]:
            # A subclass of a decoded type (e.g. a datetime subclass) is decoded as its base.
            if kind in self.decoders:
                return self.decoders[kind](data)
        if isinstance(data, cls):
            return data  # e.g. a bare `dict` or `list` hint
        raise _Bad(
            f"{cls.__module__}.{cls.__qualname__} has no converter (use a dataclass or a "
            "pydantic model, or add it to the converter's decoders)"
        )

    def _decode_dataclass(self, data: Any, cls: type) -> Any:
        _expect(data, dict, f"an object of {cls.__name__}'s fields")
        hints = _class_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            if f.name not in data:
                missing = f.default is dataclasses.MISSING
                if missing and f.default_factory is dataclasses.MISSING:
                    raise _Bad(f"{cls.__name__} needs the field {f.name!r}, which is missing")
                continue
            try:
                values[f.name] = self._decode(data[f.name], hints.get(f.name, Any))
            except _Bad as bad:
                raise bad.at(f".{f.name}") from None
        # Keys the class no longer has are left out: history written by older code replays.
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise _Bad(f"{cls.__name__}(...) refused the fields ({exc})") from None

    def _decode_typeddict(self, data: Any, cls: type) -> dict[str, Any]:
        _expect(data, dict, f"an object of {cls.__name__}'s keys")
        hints = _class_hints(cls)
        missing = sorted(getattr(cls, "__required_keys__", set()) - set(data))
        if missing:
            raise _Bad(f"{cls.__name__} needs the key(s) {', '.join(map(repr, missing))}")
        out = {}
        for key, item in data.items():
            try:
                out[key] = self._decode(item, hints.get(key, Any))
            except _Bad as bad:
                raise bad.at(f".{key}") from None
        return out


def _key_part(key: Any) -> str:
    return f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{key!r}]"


def _pydantic_bad(exc: Exception) -> _Bad:
    """The first of a ValidationError's errors, at its path (duck typed: ``errors()``)."""
    try:
        errors = exc.errors()  # type: ignore[attr-defined]
        first = errors[0]
        bad = _Bad(first["msg"] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
        for part in reversed(first["loc"]):
            bad.at(_key_part(part) if isinstance(part, str) else f"[{part}]")
        return bad
    except Exception:  # noqa: BLE001 - not a ValidationError: its text
        return _Bad(" ".join(str(exc).split()))


def _is_pydantic(value: Any) -> bool:
    return hasattr(value, "model_dump") and hasattr(value, "model_validate")


_CLASS_HINTS: dict[type, dict[str, Any]] = {}


def _class_hints(cls: type) -> dict[str, Any]:
    hints = _CLASS_HINTS.get(cls)
    if hints is None:
        try:
            hints = typing.get_type_hints(cls)
        except Exception as exc:  # noqa: BLE001 - NameError, or a bad annotation: same advice
            raise _Bad(
                f"the type hints of {cls.__qualname__} cannot be resolved ({exc}); define the "
                "types they name at module level"
            ) from None
        _CLASS_HINTS[cls] = hints
    return hints


def _hint_name(hint: Any) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return repr(hint).replace("typing.", "")


DEFAULT_CONVERTER = DataConverter()
