"""Encoding: a Python value to its JSON form (the walk, and the encoders of its table)."""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import math
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from .converter_hints import Unfit, describe, is_pydantic, key_part


def datetime_json(value: datetime) -> str:
    text = value.isoformat()
    # The offset alone loses the zone's rules (DST); the key keeps them.
    key = getattr(value.tzinfo, "key", None) if isinstance(value.tzinfo, ZoneInfo) else None
    return f"{text}[{key}]" if key else text


def set_refused(value: Any) -> Any:
    raise Unfit(
        f"{type(value).__name__} is not a JSON type (its order differs between processes): "
        "pass a sorted list or a tuple"
    )


def bytes_refused(value: Any) -> Any:
    raise Unfit(
        f"{type(value).__name__} is not a JSON type: store the bytes elsewhere and pass a "
        "reference, or encode them as text (base64)"
    )


def float_json(value: float) -> float:
    if not math.isfinite(value):
        raise Unfit(f"{value} is not a JSON number (JSON has no NaN or infinity)")
    return value


class Encoding:
    """The value -> JSON walk of :class:`~workflows.engine.converter.DataConverter`."""

    encoders: ClassVar[dict[type, Callable[[Any], Any]]] = {}

    def _encode(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is float:
            return float_json(value)
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
            except Unfit as bad:
                raise bad.at(f"[{index}]") from None
        return out

    def _encode_dict(self, value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            try:
                out[self._encode_key(key)] = self._encode(item)
            except Unfit as bad:
                raise bad.at(key_part(key)) from None
        return out

    def _encode_key(self, key: Any) -> str:
        if type(key) is str:
            return key
        data = self._encode(key)
        # JSON objects have text keys; a dict[int, X] hint turns them back into ints.
        if isinstance(data, bool) or not isinstance(data, str | int):
            raise Unfit(f"a dict key must be text or a whole number, got {describe(key)}")
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
                except Unfit as bad:
                    raise bad.at(f".{f.name}") from None
            return out
        if is_pydantic(value) and not isinstance(value, type):
            try:
                dumped = value.model_dump(mode="json")
            except Exception as exc:  # noqa: BLE001 - any reason pydantic refuses: one message
                raise Unfit(f"{type(value).__name__}.model_dump failed ({exc})") from None
            return self._encode(dumped)
        for kind in type(value).__mro__[1:]:
            encoder = self.encoders.get(kind)
            if encoder is not None:
                return encoder(value)
        if isinstance(value, cabc.Mapping):
            return self._encode_dict(value)
        if isinstance(value, list | tuple):
            return self._encode_list(value)
        raise Unfit(
            f"{type(value).__module__}.{type(value).__qualname__} has no JSON form (make it "
            "a dataclass or a pydantic model, or add it to the converter's encoders)"
        )
