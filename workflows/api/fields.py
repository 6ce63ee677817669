"""Strict serializer fields: a JSON API takes values as typed, without coercion."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .validators import check_payload


class Text(serializers.CharField):
    """A string only (``123`` is refused, not turned into ``"123"``), taken as sent."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class WholeNumber(serializers.IntegerField):
    """A JSON integer only (``"3"``, ``3.0`` and ``true`` are refused)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryWholeNumber(serializers.IntegerField):
    """A query-string integer written as one: digits, maybe a leading minus. DRF's own
    field also took ``420.0`` and ``1e3`` (schemathesis sent ``limit=420.0`` and got a
    page); the schema says integer, so anything else is a 400 naming the parameter."""

    default_error_messages = {"invalid": "Must be a whole number, like 50."}

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not _WHOLE.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


_WHOLE = re.compile(r"-?[0-9]{1,18}")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBoolean(serializers.BooleanField):
    """A JSON ``true`` or ``false`` only (``"true"``, ``1`` and ``null`` are refused)."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class Payload(serializers.JSONField):
    """Any JSON value that the durable store can keep (see ``validators.check_payload``)."""

    def __init__(self, what: str, **kwargs: Any) -> None:
        self.what = what
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("default", None)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return check_payload(super().to_internal_value(data), self.what)


@extend_schema_field(OpenApiTypes.BOOL)
class QueryFlag(serializers.Field):
    """A query-string boolean: ``true``/``1`` or ``false``/``0``."""

    default_error_messages = {"invalid": "Must be true or false (1 or 0)."}

    def to_internal_value(self, data: Any) -> bool:
        value = str(data).lower()
        if value in ("1", "true"):
            return True
        if value in ("0", "false"):
            return False
        self.fail("invalid")

    def to_representation(self, value: Any) -> bool:
        return bool(value)


class StrictSerializer(serializers.Serializer):
    """A request body that refuses unknown keys, so a typo (``"imput"``) is a 400, not a
    silently ignored field. The schema says ``additionalProperties: false`` for these."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {key: [f"Unknown field; this body takes: {known}."] for key in unknown}
                )
        return super().to_internal_value(data)


def query_data(serializer_class: type[serializers.Serializer], query: Any) -> dict[str, Any]:
    """The query parameters a serializer declares, as a plain dict (lists for ListFields).

    DRF reads a QueryDict like an HTML form, where ``?limit=`` means "not given"; for an
    API an empty value is a wrong value, so it goes to validation like any other.
    """
    fields = serializer_class().fields
    return {
        name: query.getlist(name) if isinstance(field, serializers.ListField) else query[name]
        for name, field in fields.items()
        if name in query
    }
