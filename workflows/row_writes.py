"""Rows written without the ORM's per-call work: for the per-step hot paths.

Each writer builds its SQL once per shape and prepares values through the model's own
fields (payload fields encode, codecs encrypt), then sends it alone or with a
``compiled.StatementBatch`` (one round trip on PostgreSQL): the history and the new
tasks of an episode, its instance row, the outcomes of a round, a start's instance and
first message. Elsewhere (SQLite) they fall back to the ORM where it matters.

Example::

    batch = StatementBatch()
    insert_rows(HistoryEvent, columns, rows, batch=batch)
    update_fields(instance, ["status", "updated_at"], batch=batch)
    batch.run()
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.db.models import Model
from django.db.models.expressions import DatabaseDefault
from django.db.transaction import Atomic
from django.utils import timezone

from .compiled import StatementBatch, sending


def insert_rows(
    model: type[Model],
    field_names: list[str],
    rows: list[tuple[Any, ...]],
    using: str = "default",
    batch: StatementBatch | None = None,
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
    if _unnest(conn, rows):
        with sending(batch, using) as adding:
            adding.add(_unnest_insert(model, fields, conn), _column_arrays(fields, rows, conn))
        return
    quote = conn.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
    size = max(1, conn.ops.bulk_batch_size(fields, rows))  # SQLite caps the parameters
    with sending(batch, using) as adding:  # a caller's batch sends them with its later ones
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            params = [
                field.get_db_prep_save(value, conn)
                for row in chunk
                for field, value in zip(fields, row, strict=True)
            ]
            adding.add(head + ", ".join([one_row] * len(chunk)), params)


# From this many rows, an INSERT on PostgreSQL passes one array per column (``INSERT ...
# SELECT * FROM unnest(...)``): a statement of one shape whatever the row count. As a
# VALUES list, a fan-out's 1,000 tasks were 21,000 placeholders that psycopg found and
# quoted one by one: that INSERT took 210-280 ms, as arrays 80-90 ms.
UNNEST_FROM = 16


def _unnest(conn: Any, rows: list[Any]) -> bool:
    return conn.vendor == "postgresql" and len(rows) >= UNNEST_FROM


def _unnest_insert(model: type[Model], fields: list[Any], conn: Any) -> str:
    quote = conn.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    arrays = ", ".join(f"%s::{field.db_type(conn)}[]" for field in fields)
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT * FROM unnest({arrays})"


def _column_arrays(fields: list[Any], rows: list[Any], conn: Any) -> list[list[Any]]:
    """One list per column of the values prepared by their field. A plain value that is
    the very object of the row before is prepared once: a fan-out's tasks share their hub,
    instance, execution, activity name and times. Never for the project's own fields (a
    payload codec encrypts each value on its own)."""
    arrays = []
    for index, field in enumerate(fields):
        reuse = type(field).__module__.startswith("django.")
        column: list[Any] = []
        last: Any = _SLOT_ROW
        prepared: Any = None
        for row in rows:
            value = row[index]
            if not (reuse and value is last and isinstance(value, _PLAIN)):
                last, prepared = value, field.get_db_prep_save(value, conn)
            column.append(prepared)
        arrays.append(column)
    return arrays


_SLOT_ROW = object()  # no row's value: the first row is always prepared
_PLAIN = (str, int, float, datetime, timedelta, type(None))


def delete_rows(
    model: type[Model], pks: list[Any], using: str = "default", batch: StatementBatch | None = None
) -> None:
    """``DELETE`` the rows with these primary keys (no signals, no cascades: for rows
    nothing points to, such as applied inbox messages); with ``batch``, sent with it.

    Example::

        delete_rows(InboxMessage, [3, 4], batch=batch)
    """
    if not pks:
        return
    quote = connections[using].ops.quote_name
    meta = model._meta
    marks = ", ".join(["%s"] * len(pks))
    sql = f"DELETE FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} IN ({marks})"
    with sending(batch, using) as adding:
        adding.add(sql, list(pks))


_UPDATES: dict[tuple[type[Model], tuple[str, ...], tuple[str, ...], str], str] = {}


def update_row(
    model: type[Model],
    pk: Any,
    values: dict[str, Any],
    where: dict[str, Any] | None = None,
    using: str = "default",
    batch: StatementBatch | None = None,
) -> int | None:
    """``UPDATE`` one row by primary key (and ``where``: field = value), values prepared by
    their fields; returns how many rows it changed (0 or 1), or None when added to
    ``batch`` (sent later, unread). The SQL text is built once.

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
    if batch is not None:
        batch.add(sql, params)
        return None
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def update_fields(
    instance: Model,
    field_names: list[str],
    using: str = "default",
    batch: StatementBatch | None = None,
) -> None:
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
    update_row(model, instance.pk, values, using=using, batch=batch)


def insert_objects(
    objs: list[Model],
    using: str = "default",
    batch: StatementBatch | None = None,
    commit: Atomic | None = None,
) -> None:
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
    fields = _insert_fields(objs[0])
    rows = [[field.pre_save(obj, True) for field in fields] for obj in objs]
    if _by_the_orm(conn, [value for row in rows for value in row]):
        if batch is not None:
            batch.run()  # what was added before goes first, as it would have
        model.objects.using(using).bulk_create(objs)
        return
    quote = conn.ops.quote_name
    returning = f" RETURNING {quote(meta.pk.column)}"
    if _unnest(conn, rows):
        sql = _unnest_insert(model, fields, conn) + returning
        params = _column_arrays(fields, rows, conn)
    else:
        columns = ", ".join(quote(field.column) for field in fields)
        one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "
            + ", ".join([one_row] * len(objs))
            + returning
        )
        params = [
            field.get_db_prep_save(value, conn)
            for row in rows
            for field, value in zip(fields, row, strict=True)
        ]
    # With ``batch``: its statements first, in the same round trip.
    pks = [pk for (pk,) in (batch or StatementBatch(using)).run(sql, params, commit=commit)]
    # PostgreSQL returns them in the order of VALUES (or of the arrays)
    for obj, pk in zip(objs, pks, strict=True):
        obj.pk = pk
        _saved(obj, using)


def insert_with_child(
    parent: Model,
    child: Model,
    link: str,
    using: str = "default",
    commit: Atomic | None = None,
) -> None:
    """Insert ``parent`` and ``child``, whose foreign key ``link`` points at the parent,
    setting both primary keys: on PostgreSQL one statement (the parent's INSERT in a
    ``WITH``, the child's reading its key), with ``commit`` (StatementBatch.run) the COMMIT
    in the same round trip: a start's instance row and its ExecutionStarted message.
    Elsewhere, or with a database default left to the database, one after the other.

    Example::

        insert_with_child(instance, InboxMessage(kind="execution_started", ...), "instance")
    """
    conn = connections[using]
    parent_fields = _insert_fields(parent)
    child_fields = [f for f in _insert_fields(child) if f.name != link]
    parent_row = [field.pre_save(parent, True) for field in parent_fields]
    child_row = [field.pre_save(child, True) for field in child_fields]
    if _by_the_orm(conn, [*parent_row, *child_row]):
        with transaction.atomic(using, savepoint=False):  # both or neither, as one statement
            insert_objects([parent], using)
            setattr(child, link, parent)
            insert_objects([child], using)
        return
    quote = conn.ops.quote_name
    parent_meta, child_meta = type(parent)._meta, type(child)._meta
    parent_pk, child_pk = quote(parent_meta.pk.column), quote(child_meta.pk.column)
    link_column = quote(child_meta.get_field(link).column)
    sql = (
        f"WITH parent AS (INSERT INTO {quote(parent_meta.db_table)} "
        f"({', '.join(quote(f.column) for f in parent_fields)}) "
        f"VALUES ({', '.join(['%s'] * len(parent_fields))}) RETURNING {parent_pk}) "
        f"INSERT INTO {quote(child_meta.db_table)} "
        f"({link_column}, {', '.join(quote(f.column) for f in child_fields)}) "
        f"VALUES ((SELECT {parent_pk} FROM parent), {', '.join(['%s'] * len(child_fields))}) "
        f"RETURNING {link_column}, {child_pk}"
    )
    params = [
        field.get_db_prep_save(value, conn)
        for field, value in zip(
            [*parent_fields, *child_fields], [*parent_row, *child_row], strict=True
        )
    ]
    [(parent.pk, child.pk)] = StatementBatch(using).run(sql, params, commit=commit)
    setattr(child, link, parent)
    _saved(parent, using)
    _saved(child, using)


def _insert_fields(obj: Model) -> list[Any]:
    return [f for f in type(obj)._meta.concrete_fields if not f.primary_key]


def _by_the_orm(conn: Any, values: list[Any]) -> bool:
    """Whether rows with these values go through the ORM: not PostgreSQL, or a database
    default left to the database (the INSERT here would send it as a value)."""
    return conn.vendor != "postgresql" or any(isinstance(v, DatabaseDefault) for v in values)


def _saved(obj: Model, using: str) -> None:
    """Mark ``obj`` as a stored row, as ``save()`` does."""
    obj._state.adding, obj._state.db = False, using


def update_each(
    model: type[Model],
    rows: list[tuple[Any, dict[str, Any]]],
    where: dict[str, Any],
    using: str = "default",
    batch: StatementBatch | None = None,
) -> set[Any] | None:
    """On PostgreSQL, ``UPDATE`` each row by primary key with its own values (every row
    the same fields), only where ``where`` holds, in one statement that locks the rows in
    primary key order (the lock order of every writer of many rows); returns the primary
    keys it changed. Elsewhere None: the caller uses the ORM.

    ``bulk_update`` without its CASE per field and per row (compiled on every call) and
    the SELECT ... FOR UPDATE before it. With ``batch`` (PostgreSQL), the statement is
    added to it as its ``returning`` one and an empty set returned: the keys changed are
    in ``batch.returned`` once it ran.

    Example::

        update_each(ActivityTask, [(7, {"status": "completed"})], where={"status": "running"})
    """
    conn = connections[using]
    if conn.vendor != "postgresql" or not rows:
        return None
    sql, params = _update_each_statement(model, rows, where, conn)
    if batch is not None:
        batch.add(sql, params, returning=True)
        return set()
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return {key for (key,) in cursor.fetchall()}


def _update_each_statement(
    model: type[Model], rows: list[tuple[Any, dict[str, Any]]], where: dict[str, Any], conn: Any
) -> tuple[str, list[Any]]:
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
    return sql, params
