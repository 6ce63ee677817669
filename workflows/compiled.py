"""ORM queries compiled to SQL once, then run as raw SQL: for the few per-step hot paths.

Compiling a queryset costs more than running it on a warm connection (the instance lock
of an episode: ~0.4 ms to compile, ~0.3 ms to run on PostgreSQL). The query is still
written with the ORM, so it follows the models; only the compilation is remembered.

"Compiled" is this process's SQL text, not a server-side prepared statement: both helpers
run through Django's cursor (client-side binding, psycopg's ``prepare_threshold`` None),
which leaves nothing in the server session. So they work unchanged behind PgBouncer in
transaction pooling (docs/architecture.md, "Processes, databases and brokers"); a
``prepare=True`` here would break there (tests/runtime/test_pgbouncer.py checks none is left).

Example::

    lock = CompiledQuery(Instance, lambda pk: Instance.objects.filter(pk=pk)[:1])
    instance = lock.first(42)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet

# An argument no real query uses: it marks where the caller's value goes in the params.
_SLOT = -8_070_450_532_247_928_833


class CompiledQuery:
    """A queryset of one argument, compiled once per database (vendor) and run raw."""

    def __init__(
        self, model: type[Model], build: Callable[[Any], QuerySet], using: str = "default"
    ):
        self.model = model
        self.build = build
        self.using = using
        self._compiled: dict[str, tuple[str, tuple[Any, ...], int]] = {}
        self._lock = threading.Lock()

    def _sql(self) -> tuple[str, tuple[Any, ...], int]:
        vendor = connections[self.using].vendor
        compiled = self._compiled.get(vendor)
        if compiled is None:
            queryset = self.build(_SLOT)
            sql, params = queryset.query.get_compiler(using=self.using).as_sql()
            slots = [i for i, p in enumerate(params) if p == _SLOT]
            if len(slots) != 1:
                raise ValueError(f"{self.model.__name__} query must use its argument once: {sql}")
            compiled = (sql, tuple(params), slots[0])
            with self._lock:
                self._compiled[vendor] = compiled
        return compiled

    def first(self, value: Any) -> Any:
        """The first row as a model instance (extra columns become attributes), or None."""
        sql, params, slot = self._sql()
        args = list(params)
        args[slot] = value
        return next(iter(self.model.objects.using(self.using).raw(sql, args)), None)


def insert_rows(
    model: type[Model], field_names: list[str], rows: list[tuple[Any, ...]], using: str = "default"
) -> None:
    """INSERT ``rows`` (values in ``field_names`` order) with multi-row statements.

    ``bulk_create`` without its per-call compilation and ``RETURNING``: for rows nobody
    reads back in the same transaction (history). Values are prepared by their fields.

    Example::

        insert_rows(HistoryEvent, ["instance", "seq", ...], [(instance.pk, 1, ...)])
    """
    if not rows:
        return
    conn = connections[using]
    fields = [model._meta.get_field(name) for name in field_names]
    quote = conn.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
    size = max(1, conn.ops.bulk_batch_size(fields, rows))  # SQLite caps the parameters
    with conn.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            params = [
                field.get_db_prep_save(value, conn)
                for row in chunk
                for field, value in zip(fields, row, strict=True)
            ]
            cursor.execute(head + ", ".join([one_row] * len(chunk)), params)
