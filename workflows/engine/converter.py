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

The walks live beside this facade: ``converter_encoding`` (value -> JSON),
``converter_decoding`` (JSON -> value, dispatched on the hint) and ``converter_hints``
(what both share). Executions recorded before typed payloads existed replay with
:data:`PLAIN_JSON_CONVERTER` (``ExecutionStarted.converter`` is absent from them).

A project plugs its own subclass in with ``DURABLE_DATA_CONVERTER``; extra types go
into the two tables::

    class MoneyConverter(DataConverter):
        encoders = {**DataConverter.encoders, Money: lambda m: [str(m.amount), m.currency]}
        decoders = {**DataConverter.decoders, Money: lambda data: Money(Decimal(data[0]), data[1])}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from . import converter_decoding as dec
from . import converter_encoding as enc
from .converter_hints import Unfit, hint_name, is_any, where
from .errors import PayloadError, PayloadMismatch
from .payloads import round_trip

_ACCEPTED = (
    "Pass plain JSON data (dict, list, str, int, float, bool, None), or dataclasses, pydantic "
    "models, datetime/date/time/timedelta, Decimal, UUID or Enum values."
)
_PASS_THAT_TYPE = "Pass a value of that type (or its JSON form)."


class DataConverter(enc.Encoding, dec.Decoding):
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
        datetime: enc.datetime_json,
        date: date.isoformat,
        time: time.isoformat,
        timedelta: timedelta.total_seconds,
        Decimal: str,
        UUID: str,
        set: enc.set_refused,
        frozenset: enc.set_refused,
        bytes: enc.bytes_refused,
        bytearray: enc.bytes_refused,
    }
    decoders: ClassVar[dict[type, Callable[[Any], Any]]] = {
        datetime: dec.parsed(dec.datetime_from, "datetime"),
        date: dec.parsed(date.fromisoformat, "date"),
        time: dec.parsed(time.fromisoformat, "time"),
        timedelta: dec.timedelta_from,
        Decimal: dec.decimal_from,
        UUID: dec.parsed(UUID, "UUID"),
        str: dec.exactly(str, "text"),
        int: dec.exactly(int, "a whole number"),
        float: dec.float_from,
        bool: dec.exactly(bool, "true or false"),
        type(None): dec.nothing,
    }

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
        except Unfit as bad:
            raise PayloadError(
                f"The {where(what, bad.path)} is not JSON-serializable: {bad.reason}. {_ACCEPTED}"
            ) from None
        except RecursionError:
            raise PayloadError(
                f"The {what} is not JSON-serializable: it is nested too deeply, or contains "
                f"itself. {_ACCEPTED}"
            ) from None

    def from_json(
        self, data: Any, hint: Any = Any, what: str = "value", advice: str = _PASS_THAT_TYPE
    ) -> Any:
        """A value of type ``hint`` rebuilt from its JSON form ``data``.

        ``Any`` (or no hint) returns ``data`` itself. Raises :class:`PayloadMismatch`
        (never retried) saying what was expected, what was found and where, then
        ``advice``: ``The result of activity 'load' does not fit its type dict:
        expected an object, got null (None).``
        """
        if is_any(hint):
            return data
        try:
            return self._decode(data, hint)
        except Unfit as bad:
            raise PayloadMismatch(
                f"The {where(what, bad.path)} does not fit its type {hint_name(hint)}: "
                f"{bad.reason}. {advice}"
            ) from None

    def encode(
        self, value: Any, what: str = "value", hint: Any = Any, advice: str = _PASS_THAT_TYPE
    ) -> Any:
        """``value``'s JSON form, checked against ``hint`` where it is given.

        The call site's check: a value its receiver could not decode fails here, in
        the code that passed it, and not later in a worker.
        """
        data = self.to_json(value, what)
        if not is_any(hint):
            self.from_json(data, hint, what, advice)
        return data


class PlainJsonConverter(DataConverter):
    """Every value as plain JSON, hints ignored: how executions recorded before typed
    payloads existed saw their values, so that they replay exactly as they ran.

    A value that is not plain JSON (a datetime, a dataclass) is refused as it was then.
    """

    def to_json(self, value: Any, what: str = "value") -> Any:
        return round_trip(value, what)

    def from_json(
        self, data: Any, hint: Any = Any, what: str = "value", advice: str = _PASS_THAT_TYPE
    ) -> Any:
        return data

    def encode(
        self, value: Any, what: str = "value", hint: Any = Any, advice: str = _PASS_THAT_TYPE
    ) -> Any:
        return round_trip(value, what)


DEFAULT_CONVERTER = DataConverter()
PLAIN_JSON_CONVERTER = PlainJsonConverter()
