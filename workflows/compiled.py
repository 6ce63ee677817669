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
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone

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


_UPDATES: dict[tuple[type[Model], tuple[str, ...], tuple[str, ...], str], str] = {}


def update_row(
    model: type[Model],
    pk: Any,
    values: dict[str, Any],
    where: dict[str, Any] | None = None,
    using: str = "default",
) -> int:
    """``UPDATE`` one row by primary key (and ``where``: field = value), values prepared by
    their fields; returns how many rows it changed (0 or 1). The SQL text is built once.

    Example::

        update_row(ActivityTask, 7, {"status": "completed"}, where={"status": "running"})
    """
    conn = connections[using]
    where = where or {}
    key = (model, tuple(values), tuple(where), conn.vendor)
    sql = _UPDATES.get(key)
    if sql is None:
        quote, meta = conn.ops.quote_name, model._meta
        columns = ", ".join(f"{quote(meta.get_field(n).column)} = %s" for n in values)
        conditions = [quote(meta.pk.column)] + [quote(meta.get_field(n).column) for n in where]
        sql = f"UPDATE {quote(meta.db_table)} SET {columns} WHERE " + " AND ".join(
            f"{column} = %s" for column in conditions
        )
        _UPDATES[key] = sql
    params = [model._meta.get_field(n).get_db_prep_save(v, conn) for n, v in values.items()]
    params.append(pk)
    params.extend(model._meta.get_field(n).get_db_prep_value(v, conn) for n, v in where.items())
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def update_fields(instance: Model, field_names: list[str], using: str = "default") -> None:
    """``instance.save(update_fields=field_names)`` as one UPDATE by primary key, without
    the ORM's per-call work (signals, compilation): for the episode's instance row.

    ``auto_now`` fields among them get the current time first, as ``save()`` does.

    Example::

        update_fields(instance, ["status", "updated_at"])
    """
    model = type(instance)
    fields = [model._meta.get_field(name) for name in field_names]
    now = None
    for field in fields:
        if getattr(field, "auto_now", False):
            now = now or timezone.now()
            setattr(instance, field.attname, now)
    values = {field.name: getattr(instance, field.attname) for field in fields}
    update_row(model, instance.pk, values, using=using)


def insert_objects(objs: list[Model], using: str = "default") -> None:
    """``bulk_create(objs)`` without its per-call work, setting each object's primary key:
    one multi-row INSERT ... RETURNING on PostgreSQL (the episode's new tasks, read back
    by the thread that runs the claimed one). Elsewhere, or with a database default left
    to the database, ``bulk_create`` itself.

    Example::

        insert_objects([ActivityTask(...), ActivityTask(...)])  # each gets its pk
    """
    if not objs:
        return
    model, conn = type(objs[0]), connections[using]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    rows = [[field.pre_save(obj, True) for field in fields] for obj in objs]
    if conn.vendor != "postgresql" or any(
        isinstance(value, DatabaseDefault) for row in rows for value in row
    ):
        model.objects.using(using).bulk_create(objs)
        return
    quote = conn.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "
        + ", ".join([one_row] * len(objs))
        + f" RETURNING {quote(meta.pk.column)}"
    )
    params = [
        field.get_db_prep_save(value, conn)
        for row in rows
        for field, value in zip(fields, row, strict=True)
    ]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [pk for (pk,) in cursor.fetchall()]
    for obj, pk in zip(objs, pks, strict=True):  # PostgreSQL returns them in VALUES order
        obj.pk = pk
        obj._state.adding, obj._state.db = False, using


def update_each(
    model: type[Model],
    rows: list[tuple[Any, dict[str, Any]]],
    where: dict[str, Any],
    using: str = "default",
) -> set[Any] | None:
    """On PostgreSQL, ``UPDATE`` each row by primary key with its own values (every row
    the same fields), only where ``where`` holds, in one statement that locks the rows in
    primary key order (the lock order of every writer of many rows); returns the primary
    keys it changed. Elsewhere None: the caller uses the ORM.

    ``bulk_update`` without its CASE per field and per row (compiled on every call) and
    the SELECT ... FOR UPDATE before it.

    Example::

        update_each(ActivityTask, [(7, {"status": "completed"})], where={"status": "running"})
    """
    conn = connections[using]
    if conn.vendor != "postgresql" or not rows:
        return None
    meta, quote = model._meta, conn.ops.quote_name
    names = list(rows[0][1])
    fields = [meta.get_field(name) for name in names]
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    types = [field.db_type(conn) for field in fields]
    one_row = "(%s, " + ", ".join(f"%s::{kind}" for kind in types) + ")"
    columns = ", ".join(quote(field.column) for field in fields)
    conditions = " AND ".join(f"{quote(meta.get_field(n).column)} = %s" for n in where)
    sql = (
        f"UPDATE {table} AS t SET "
        + ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
        + f" FROM (SELECT {pk} FROM {table} WHERE {pk} = ANY(%s) AND {conditions}"
        + f" ORDER BY {pk} FOR UPDATE) AS l, (VALUES "
        + ", ".join([one_row] * len(rows))
        + f") AS v({pk}, {columns}) WHERE t.{pk} = l.{pk} AND t.{pk} = v.{pk} RETURNING t.{pk}"
    )
    params: list[Any] = [[key for key, _values in rows]]
    params.extend(meta.get_field(n).get_db_prep_value(v, conn) for n, v in where.items())
    for key, values in rows:
        params.append(key)
        params.extend(
            field.get_db_prep_save(values[name], conn)
            for field, name in zip(fields, names, strict=True)
        )
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return {key for (key,) in cursor.fetchall()}
