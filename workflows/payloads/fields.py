"""``PayloadField``: the model field of every column holding workflow data.

A ``JSONField`` whose every write goes through :func:`offload.store` (the codec, then the
storage when large) and every read through :func:`offload.load`. Writes of every kind
pass ``get_db_prep_value``: ``save()``, ``update()``, ``bulk_create``, ``bulk_update`` and
the raw SQL of ``workflows/compiled.py`` (which prepares values with the field); reads of
every kind pass ``from_db_value``: model rows, ``values()``/``values_list()`` and
``raw()``. So replay, check-replay, the API and the UI see plain values and only the
database (and the payload storage) sees envelopes. JSON lookups inside these columns
(``input__customer=...``) cannot match an envelope: none are used (docs/architecture.md,
"Payloads").

Example::

    class Order(models.Model):
        input = PayloadField(null=True, blank=True, offload=True)
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.models.fields.json import KeyTransform

from . import codec
from .offload import load, store

# A text column's stored form when encrypted: this prefix, then the envelope's JSON.
TEXT_MARK = "$p:"


class PayloadField(models.JSONField):
    """A JSONField stored through the payload codec; ``offload=True``: large values go to
    the payload storage (only for columns written once and deleted with their instance,
    so a purge finds every object)."""

    def __init__(self, *args: Any, offload: bool = False, **kwargs: Any) -> None:
        self.offload = offload
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.offload:
            kwargs["offload"] = True
        return name, path, args, kwargs

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is not None and not hasattr(value, "as_sql"):
            value = store(value, offload=self.offload)
        return super().get_db_prep_value(value, connection, prepared=True)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        value = super().from_db_value(value, expression, connection)
        if isinstance(expression, KeyTransform):
            return value
        return load(value)


class PayloadTextField(models.TextField):
    """A text column that may quote workflow data (failure text in an attention reason, an
    entity operation's error): encrypted like a payload when the codec is on. The empty
    text stays empty (it says "none" and is filtered on). A text that itself starts with
    ``"$p:"`` is stored escaped (``"$p:"`` + a ``raw`` envelope), so any text reads back
    as written with the codec on or off.

    Example::

        reason = PayloadTextField(blank=True, default="")
    """

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        value = super().get_db_prep_value(value, connection, prepared)
        if isinstance(value, str) and value:
            stored = codec.encode(value)
            if stored == value and value.startswith(TEXT_MARK):
                stored = {codec.MARK: "raw", "v": value}  # escaped: not read as a mark
            if stored != value:
                return TEXT_MARK + json.dumps(stored)
        return value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if isinstance(value, str) and value.startswith(TEXT_MARK):
            return codec.decode(envelope) if (envelope := _envelope(value)) else value
        return value


def _envelope(text: str) -> dict[str, Any] | None:
    """The envelope a marked text holds, None when it holds none (a text stored raw by an
    earlier version that happened to start with the mark)."""
    try:
        stored = json.loads(text[len(TEXT_MARK) :])
    except ValueError:
        return None
    return stored if codec.is_envelope(stored) else None
