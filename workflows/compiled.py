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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg._queries
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.sql import UpdateQuery
from django.db.transaction import Atomic

# psycopg converts a query for client-side binding (splits it at its placeholders) and
# caches the result only for a query under 4,096 bytes with at most 50 parameters. The
# batches here are longer (a round's lock and outcomes, an episode's tail) and repeat:
# split anew each time, it was 8% of a bounded fan-out's round, in the thread that holds
# the instance row. The cache (an LRU of 128 texts) takes them up to this length;
# tests/test_compiled.py checks that it does, so a psycopg that renames these fails there.
psycopg._queries.MAX_CACHED_STATEMENT_LENGTH = 32_768
psycopg._queries.MAX_CACHED_STATEMENT_PARAMS = 10_000

# An argument no real query uses: it marks where the caller's value goes in the params.
_SLOT = -8_070_450_532_247_928_833


class StatementBatch:
    """Writes sent in order with the next statement that returns rows (or at :meth:`run`):
    on PostgreSQL in one round trip. The tail of an episode (history, the applied inbox
    rows, the instance's UPDATE, the completion notice, the new tasks' INSERT ...
    RETURNING) is one; the result of a merged step goes with its instance lock. Their
    rows are not read back, but for one statement added with ``returning=True`` (a
    round's outcomes: the tasks it changed), kept in :attr:`returned`.

    On PostgreSQL the statements go as one string through Django's client-side-binding
    cursor (the simple query protocol runs them in order, as separate statements; a
    failing one raises at :meth:`run`, inside the same transaction, as it would have
    alone). Nothing is server-side prepared, so PgBouncer in transaction pooling is fine.
    Elsewhere (SQLite) they run one by one, at the same moment. Callers add only writes
    that nothing run before :meth:`run` reads.

    Example::

        batch = StatementBatch()
        row_writes.insert_rows(HistoryEvent, columns, rows, batch=batch)
        row_writes.update_fields(instance, ["status"], batch=batch)
        batch.run()
    """

    def __init__(self, using: str = "default") -> None:
        self.using = using
        self.rowcount: int | None = None  # of the last statement sent (before a COMMIT)
        self.committed = False  # the batch carried the transaction's COMMIT
        self.returned: list[tuple] = []  # the rows of the statement added with returning=True
        self._statements: list[tuple[str, list[Any]]] = []
        self._returning: int | None = None  # its index among the statements added
        self._returning_sent: int | None = None  # ... among those taken to be sent

    @property
    def together(self) -> bool:
        """Whether this database takes the statements in one string (PostgreSQL)."""
        return _together(self.using)

    def add(self, sql: str, params: list[Any], returning: bool = False) -> None:
        """Add a statement; ``returning`` (one per batch): keep its rows in
        :attr:`returned` once sent (an UPDATE ... RETURNING sent with an instance lock)."""
        if self.committed:
            raise RuntimeError("this batch committed its transaction: nothing more may follow")
        if returning:
            if self._returning is not None:
                raise RuntimeError("a batch keeps the rows of one statement only")
            self._returning = len(self._statements)
        self._statements.append((sql, params))

    def run(
        self, sql: str | None = None, params: list[Any] | None = None, commit: Atomic | None = None
    ) -> list[tuple]:
        """Send what was added, then ``sql`` (if given), in one round trip where the
        database allows; returns the rows of ``sql``.

        ``commit``: the caller's own ``atomic`` block, in which it runs nothing more after
        this. On PostgreSQL the COMMIT goes in the same round trip when that very block is
        the outermost one open (Django's own commit then finds nothing to do and runs the
        on_commit hooks). Anywhere else (nested in a caller's transaction, a test's), the
        transaction commits when the outermost block ends, as always: a block is named, not
        a flag given, so that a writer never ends a transaction it did not open.
        """
        if self.committed:
            raise RuntimeError("this batch committed its transaction already")
        statements = self.take()
        rows_at = None
        if sql is not None:
            rows_at = len(statements)
            statements.append((sql, list(params or [])))
        conn = connections[self.using]
        if not self.together:
            if not statements:
                return []
            with conn.cursor() as cursor:
                for index, one in enumerate(statements):
                    cursor.execute(*one)
                    if index == self._returning_sent:
                        self.returned = cursor.fetchall()
                self.rowcount = cursor.rowcount
                return cursor.fetchall() if sql is not None else []
        last = len(statements) - 1
        if commit is not None and _outermost(conn, commit):
            statements.append(("COMMIT", []))
            self.committed = True
        if not statements:
            return []
        with conn.cursor() as cursor:
            cursor.execute(*joined(statements))
            return self.results(cursor, rows_at, last)

    def take(self) -> list[tuple[str, list[Any]]]:
        """What was added and not sent yet (emptied): for a caller sending it itself."""
        taken, self._statements = self._statements, []
        self._returning_sent, self._returning = self._returning, None
        return taken

    def results(self, cursor: Any, rows_at: int | None, last: int, first: int = 0) -> list[tuple]:
        """Walk the result of each statement sent on ``cursor`` (PostgreSQL): return the
        rows of statement ``rows_at``, note the row count of statement ``last``, keep the
        rows of the statement added with ``returning`` (this batch's statements were sent
        from position ``first`` on)."""
        keep = None if self._returning_sent is None else first + self._returning_sent
        rows, index = [], 0
        while True:
            if index == rows_at:
                rows = cursor.fetchall()
            if index == keep:
                self.returned = cursor.fetchall()
            if index == last:
                self.rowcount = cursor.rowcount
            if not cursor.nextset():
                return rows
            index += 1


def _together(using: str) -> bool:
    return connections[using].vendor == "postgresql"


@contextmanager
def sending(batch: StatementBatch | None, using: str = "default") -> Iterator[StatementBatch]:
    """``batch`` to add statements to, or, without one, a batch sent when the block ends:
    what a writer taking an optional batch needs.

    Example::

        with sending(batch) as adding:
            adding.add("SELECT pg_notify(%s, %s)", [channel, instance_id])
    """
    if batch is not None:
        yield batch
        return
    own = StatementBatch(using)
    yield own
    own.run()


def _outermost(conn: Any, block: Atomic) -> bool:
    """Whether a COMMIT sent now ends the transaction that ``block`` opened, as its end
    would: it is the only block open (no savepoint or inner block), nothing marked for
    rollback."""
    return (
        conn.in_atomic_block
        and conn.atomic_blocks == [block]
        and not conn.savepoint_ids
        and not conn.needs_rollback
    )


def joined(statements: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """Several (sql, params) as one string of statements and its params (PostgreSQL)."""
    return "; ".join(sql for sql, _ in statements), [p for _, params in statements for p in params]


class _OneArgument:
    """SQL of one argument built once per database (vendor) by ``compile(marker)``, then
    bound to each call's value (the marker shows where it goes in the params)."""

    def __init__(self, using: str) -> None:
        self.using = using
        self._compiled: dict[str, tuple[str, tuple[Any, ...], int]] = {}

    def compile(self, marker: Any) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def _bound(self, value: Any) -> tuple[str, list[Any]]:
        vendor = connections[self.using].vendor
        compiled = self._compiled.get(vendor)
        if compiled is None:
            sql, params = self.compile(_SLOT)
            # A text column's lookup gets the marker as text.
            slots = [i for i, p in enumerate(params) if p in (_SLOT, str(_SLOT))]
            if len(slots) != 1:
                raise ValueError(f"the compiled query must use its argument once: {sql}")
            compiled = self._compiled[vendor] = (sql, tuple(params), slots[0])
        sql, params, slot = compiled
        args = list(params)
        args[slot] = value
        return sql, args


class CompiledQuery(_OneArgument):
    """A queryset of one argument, compiled once per database (vendor) and run raw."""

    def __init__(
        self, model: type[Model], build: Callable[[Any], QuerySet], using: str = "default"
    ):
        super().__init__(using)
        self.model = model
        self.build = build
        # Per result shape (column names): each column's attname, Col and converters.
        self._layouts: dict[tuple[str, ...], list[tuple[str, Any, list]] | None] = {}

    def compile(self, marker: Any) -> tuple[str, list[Any]]:
        sql, params = self.build(marker).query.get_compiler(using=self.using).as_sql()
        return sql, list(params)

    def first(self, value: Any, then: StatementBatch | None = None) -> Any:
        """The first row as a model instance (extra columns become attributes), or None.

        ``then``: a batch sent right after this query, in its round trip on PostgreSQL
        (elsewhere it ran as it was added); its ``rowcount`` is read afterwards.
        """
        sql, args = self._bound(value)
        if then is None or not then.together:
            found = next(iter(self.model.objects.using(self.using).raw(sql, args)), None)
            if then is not None:
                then.run()
            return found
        taken = then.take()
        with connections[self.using].cursor() as cursor:
            cursor.execute(*joined([(sql, args), *taken]))
            row = cursor.fetchone()
            found = self._model_of(cursor.description, row) if row is not None else None
            then.results(cursor, None, last=len(taken), first=1)
        return found

    def all(self, value: Any) -> list[Any]:
        """Every row, as model instances."""
        return list(self.model.objects.using(self.using).raw(*self._bound(value)))

    def first_with_all(self, value: Any, also: CompiledQuery) -> tuple[Any, list[Any]]:
        """This query's first row and every row of ``also`` (run with the same argument
        right after it), in one round trip on PostgreSQL: an episode's instance lock
        and its inbox. ``also`` reads after this query's row lock is taken."""
        if not _together(self.using):
            return self.first(value), also.all(value)
        with connections[self.using].cursor() as cursor:
            cursor.execute(*joined([self._bound(value), also._bound(value)]))
            row = cursor.fetchone()
            found = self._model_of(cursor.description, row) if row is not None else None
            cursor.nextset()
            rows = [also._model_of(cursor.description, r) for r in cursor.fetchall()]
        return found, rows

    def _model_of(self, description: Any, row: tuple) -> Model:
        """A model instance from a row of this query, as ``raw()`` builds it: its fields
        through their converters (payload fields decode), other columns as attributes."""
        conn = connections[self.using]
        names, values, extra = [], [], []
        for column, value, place in zip(
            (d.name for d in description), row, self._layout(description), strict=True
        ):
            if place is None:
                extra.append((column, value))
                continue
            attname, col, converters = place
            for convert in converters:
                value = convert(value, col, conn)
            names.append(attname)
            values.append(value)
        found = self.model.from_db(self.using, names, values)
        for column, value in extra:
            setattr(found, column, value)
        return found

    def _layout(self, description: Any) -> list:
        """Each column's (attname, Col, converters), None for an extra column: worked out
        once per result shape (the lock of every step reads the same one)."""
        columns = tuple(d.name for d in description)
        layout = self._layouts.get(columns)
        if layout is None:
            conn = connections[self.using]
            by_column = {field.column: field for field in self.model._meta.concrete_fields}
            layout = []
            for column in columns:
                field = by_column.get(column)
                if field is None:
                    layout.append(None)
                    continue
                col = field.get_col(self.model._meta.db_table)
                converters = conn.ops.get_db_converters(col) + field.get_db_converters(conn)
                layout.append((field.attname, col, converters))
            self._layouts[columns] = layout
        return layout


class CompiledUpdate(_OneArgument):
    """``queryset.update(**values)`` for a queryset of one argument, compiled once per
    database (vendor) and added to a :class:`StatementBatch` (sent with its round trip).

    Example::

        cancel = CompiledUpdate(lambda pk: Timer.objects.filter(instance_id=pk), {"fired": True})
        cancel.add(instance.pk, batch)
    """

    def __init__(
        self, build: Callable[[Any], QuerySet], values: dict[str, Any], using: str = "default"
    ) -> None:
        super().__init__(using)
        self.build = build
        self.values = values

    def compile(self, marker: Any) -> tuple[str, list[Any]]:
        return update_statement(self.build(marker), self.values, self.using)

    def add(self, value: Any, batch: StatementBatch) -> None:
        batch.add(*self._bound(value))


def update_statement(
    queryset: QuerySet, values: dict[str, Any], using: str = "default"
) -> tuple[str, list[Any]]:
    """The SQL of ``queryset.update(**values)``; where the database locks rows
    (PostgreSQL), one that locks them in primary key order before it writes them.

    A plain multi-row UPDATE locks rows in the order it finds them (heap order, which
    changes with every update): two of them over the same rows, or one of them and a
    writer that locks in pk order (``row_writes.update_each``), can each hold a row the
    other waits for, a deadlock. Every writer of many task rows locks in pk order
    (docs/architecture.md, "Outcomes").
    """
    model = queryset.model
    conn = connections[using]
    if not conn.features.has_select_for_update:  # SQLite: one writer at a time
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(values)
        sql, params = query.get_compiler(using).as_sql()
        return sql, list(params)
    writing = model._base_manager.all().query.chain(UpdateQuery)
    writing.add_update_values(values)
    set_sql, set_params = writing.get_compiler(using).as_sql()
    keys = queryset.order_by("pk").values("pk").query
    keys_sql, keys_params = keys.get_compiler(using).as_sql()
    quote = conn.ops.quote_name
    pk, table = quote(model._meta.pk.column), quote(model._meta.db_table)
    # NO KEY: the lock the UPDATE itself takes (a foreign key check's KEY SHARE can go on).
    sql = f"{set_sql} WHERE {pk} IN ({keys_sql} FOR NO KEY UPDATE OF {table})"
    return sql, [*set_params, *keys_params]


def update_in_pk_order(queryset: QuerySet, **values: Any) -> int:
    """``queryset.update(**values)`` locking the rows in primary key order
    (:func:`update_statement`); returns how many rows it changed.

    Example::

        update_in_pk_order(ActivityTask.objects.filter(status="running"), worker="")
    """
    using = queryset.db
    if not connections[using].features.has_select_for_update:
        return queryset.update(**values)  # SQLite: one writer at a time
    try:
        sql, params = update_statement(queryset, values, using)
    except EmptyResultSet:  # a condition no row can meet (``pk__in=[]``), as update() has it
        return 0
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
