"""workflows/compiled.py: statements sent together (StatementBatch), in order, one round trip."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.support.rows import COLUMNS, history_event, history_row, new_instance, sent, task_row
from workflows import compiled, row_writes
from workflows.models import ActivityTask, HistoryEvent, InboxMessage, Instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def inst(db):
    return new_instance("batch-1")


def test_a_batch_sends_its_writes_with_the_statement_that_returns_rows(inst):
    batch = compiled.StatementBatch()
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        row_writes.insert_rows(HistoryEvent, COLUMNS, [history_row(inst, 1)], batch=batch)
        inst.custom_status = {"at": 1}
        row_writes.update_fields(inst, ["custom_status", "updated_at"], batch=batch)
        event = history_event(inst, 2)
        row_writes.insert_objects([event], batch=batch)
    writes = [
        sql for sql in sent(captured) if not sql.startswith(("COMMIT", "SAVEPOINT", "RELEASE"))
    ]
    if connection.vendor == "postgresql":  # one round trip for the three
        assert len(writes) == 1
        assert [part.split()[0] for part in writes[0].split("; ")] == ["INSERT", "UPDATE", "INSERT"]
    else:  # one by one, in the same order
        assert [sql.split()[0] for sql in writes] == ["INSERT", "UPDATE", "INSERT"]
    assert event.pk == HistoryEvent.objects.get(instance=inst, seq=2).pk  # RETURNING read back
    assert list(HistoryEvent.objects.filter(instance=inst).values_list("seq", flat=True)) == [1, 2]
    inst.refresh_from_db()
    assert inst.custom_status == {"at": 1}


def test_nothing_is_sent_before_run_and_run_sends_it_once(inst):
    batch = compiled.StatementBatch()
    with transaction.atomic():
        row_writes.insert_rows(HistoryEvent, COLUMNS, [history_row(inst, 1)], batch=batch)
        assert HistoryEvent.objects.filter(instance=inst).count() == 0
        assert batch.run() == []
        assert batch.run() == []  # emptied: a second run sends nothing again
    assert HistoryEvent.objects.filter(instance=inst).count() == 1


def test_a_failing_statement_fails_the_run_and_its_transaction_writes_nothing(inst):
    history_event(inst, 1).save()
    batch = compiled.StatementBatch()
    with pytest.raises(IntegrityError), transaction.atomic():
        inst.custom_status = {"changed": True}
        row_writes.update_fields(inst, ["custom_status", "updated_at"], batch=batch)
        # seq 1 exists: the unique (instance, execution, seq) index refuses it
        row_writes.insert_rows(HistoryEvent, COLUMNS, [history_row(inst, 1)], batch=batch)
        batch.run()
    inst.refresh_from_db()
    assert inst.custom_status is None
    assert HistoryEvent.objects.filter(instance=inst).count() == 1


def test_a_batch_sent_with_a_compiled_query_runs_after_it_and_counts_its_rows(inst):
    """The merged step's lock and result: the query's row, then the batch's row count."""
    lock = compiled.CompiledQuery(
        Instance, lambda pk: Instance.objects.filter(pk=pk).select_for_update()[:1]
    )
    for status, changed in (("pending", 1), ("nothing-matches", 0)):
        batch = compiled.StatementBatch()
        row_writes.update_row(Instance, inst.pk, {"custom_status": status}, batch=batch)
        row_writes.update_row(
            Instance, inst.pk, {"name": "renamed"}, {"status": status}, batch=batch
        )
        with CaptureQueriesContext(connection) as captured, transaction.atomic():
            found = lock.first(inst.pk, then=batch)
        assert found.pk == inst.pk and found.custom_status != status  # read before the batch
        assert batch.rowcount == changed
        inst.refresh_from_db()
        assert inst.custom_status == status
        trips = [q for q in sent(captured) if q.startswith(("SELECT", "UPDATE"))]
        assert len(trips) == (1 if connection.vendor == "postgresql" else 3)


@pytest.mark.parametrize("after_lock", [True, False])
def test_many_rows_updated_in_a_batch_give_back_the_keys_they_changed(inst, after_lock):
    """A round's outcomes: one UPDATE of many task rows, sent with the instance lock (or at
    run), changes only those still running; ``returned`` names them."""
    tasks = [
        task_row(inst, i, status=status)
        for i, status in enumerate(("running", "completed", "running"), start=1)
    ]
    for task in tasks:
        task.save()
    rows = [(task.pk, {"status": "failed"}) for task in tasks]
    lock = compiled.CompiledQuery(
        Instance, lambda pk: Instance.objects.filter(pk=pk).select_for_update()[:1]
    )
    batch = compiled.StatementBatch()
    changed = row_writes.update_each(ActivityTask, rows, {"status": "running"}, batch=batch)
    if connection.vendor != "postgresql":
        assert changed is None  # the caller records them by the ORM
        return
    row_writes.update_row(Instance, inst.pk, {"custom_status": "after"}, batch=batch)
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        if after_lock:
            assert lock.first(inst.pk, then=batch).pk == inst.pk
        else:
            batch.run()
    assert {pk for (pk,) in batch.returned} == {tasks[0].pk, tasks[2].pk}
    assert batch.rowcount == 1  # of the last statement, the instance's UPDATE
    statuses = dict(ActivityTask.objects.values_list("pk", "status"))
    assert [statuses[t.pk] for t in tasks] == ["failed", "completed", "failed"]
    assert len([q for q in sent(captured) if q.startswith(("SELECT", "UPDATE"))]) == 1
    with pytest.raises(RuntimeError, match="one statement only"):
        batch.add("SELECT 1", [], returning=True)
        batch.add("SELECT 2", [], returning=True)


def test_a_query_and_the_rows_of_another_come_back_in_one_round_trip(inst):
    """An episode's instance lock and its inbox, read after the lock is taken."""
    for kind in ("execution_started", "event_raised"):
        InboxMessage.objects.create(
            instance=inst, execution_id="e1", kind=kind, payload={"k": kind}
        )
    lock = compiled.CompiledQuery(
        Instance, lambda pk: Instance.objects.filter(pk=pk).select_for_update()[:1]
    )
    inbox = compiled.CompiledQuery(
        InboxMessage, lambda pk: InboxMessage.objects.filter(instance_id=pk).order_by("pk")
    )
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        found, messages = lock.first_with_all(inst.pk, inbox)
    assert found.pk == inst.pk
    assert [(m.kind, m.payload) for m in messages] == [
        ("execution_started", {"k": "execution_started"}),
        ("event_raised", {"k": "event_raised"}),
    ]
    assert len([q for q in sent(captured) if q.startswith("SELECT")]) == (
        1 if connection.vendor == "postgresql" else 2
    )
    assert lock.first_with_all(-1, inbox) == (None, [])


def test_a_commit_goes_with_the_batch_only_from_the_outermost_block(inst):
    """Under the test's own transaction (a savepoint block) the batch never commits."""
    batch = compiled.StatementBatch()
    with (block := transaction.atomic()):
        row_writes.insert_rows(HistoryEvent, COLUMNS, [history_row(inst, 1)], batch=batch)
        batch.run(commit=block)
    assert not batch.committed
    assert HistoryEvent.objects.filter(instance=inst).count() == 1


@pytest.mark.django_db(transaction=True)
def test_only_the_block_that_opened_the_transaction_commits_it_in_a_batch():
    """The outermost block open is the caller's: a writer naming another block (its own
    inner one, or none it entered) leaves the COMMIT to the caller, whose rollback then
    undoes everything. (A start once sent a COMMIT inside its caller's transaction.)"""
    inst = new_instance("batch-4")
    with pytest.raises(RuntimeError), transaction.atomic():
        batch = compiled.StatementBatch()
        row_writes.insert_rows(HistoryEvent, COLUMNS, [history_row(inst, 1)], batch=batch)
        batch.run(commit=transaction.atomic())  # not the block that opened it
        with (inner := transaction.atomic()):
            inner_batch = compiled.StatementBatch()
            row_writes.insert_rows(HistoryEvent, COLUMNS, [history_row(inst, 2)], batch=inner_batch)
            inner_batch.run(commit=inner)
        assert not batch.committed and not inner_batch.committed
        raise RuntimeError("the caller rolls back")
    assert not HistoryEvent.objects.filter(instance=inst).exists()


@pytest.mark.django_db(transaction=True)
def test_the_outermost_block_commits_in_the_batch_and_django_runs_its_hooks():
    inst = new_instance("batch-2")
    hooks = []
    batch = compiled.StatementBatch()
    with CaptureQueriesContext(connection) as captured, (block := transaction.atomic()):
        transaction.on_commit(lambda: hooks.append("ran"))
        row_writes.insert_rows(HistoryEvent, COLUMNS, [history_row(inst, 1)], batch=batch)
        batch.run(commit=block)
        if batch.committed:
            with pytest.raises(RuntimeError):  # nothing may follow a batch's COMMIT
                batch.add("SELECT 1", [])
        assert hooks == []  # Django runs them when its block ends, as always
    assert hooks == ["ran"]
    assert HistoryEvent.objects.filter(instance=inst).count() == 1
    sent = [q["sql"] for q in captured.captured_queries]
    # (Django logs its own COMMIT last either way; psycopg sends nothing for it when the
    # transaction has ended already.)
    assert batch.committed == (connection.vendor == "postgresql")
    assert sent[-2].endswith("; COMMIT") == batch.committed


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_fails_in_the_batch_rolls_back_and_runs_no_hook():
    """Foreign keys are checked at COMMIT (deferred on PostgreSQL): a row pointing at no
    instance fails the batch's COMMIT; the block raises, nothing stays, hooks never run."""
    inst = new_instance("batch-3")
    hooks = []
    batch = compiled.StatementBatch()
    orphan = (inst.pk + 10_000, "e1", 1, "event_raised", {}, inst.created_at)
    with pytest.raises(IntegrityError), (block := transaction.atomic()):
        transaction.on_commit(lambda: hooks.append("ran"))
        row_writes.insert_rows(HistoryEvent, COLUMNS, [history_row(inst, 1), orphan], batch=batch)
        batch.run(commit=block)
    assert batch.committed == (connection.vendor == "postgresql")  # the COMMIT went along
    assert hooks == []
    assert HistoryEvent.objects.count() == 0
    assert Instance.objects.filter(pk=inst.pk).exists()  # the connection works on


# Texts that an array literal must quote and escape, and that SQL must keep as written.
def test_a_long_batch_is_converted_once_and_then_taken_from_psycopgs_cache(inst):
    """psycopg splits a query at its placeholders for client-side binding and caches that
    only under 4,096 bytes and 50 parameters by default; compiled.py raises both, so a
    repeated long batch (a round's, an episode's tail) is split once."""
    if connection.vendor != "postgresql":
        pytest.skip("psycopg converts queries on PostgreSQL only")
    from psycopg import _queries

    rows = [(inst.pk, {"custom_status": {"pad": "x" * 40, "n": n}}) for n in range(60)]

    def long_batch() -> compiled.StatementBatch:
        batch = compiled.StatementBatch()
        for pk, fields in rows:
            row_writes.update_row(Instance, pk, fields, batch=batch)
        return batch

    def run_long_batch() -> None:
        with transaction.atomic():
            long_batch().run()

    sql, params = compiled.joined(long_batch().take())
    assert len(sql) > 4096 and len(params) > 50  # over both of psycopg's own limits
    run_long_batch()
    before = _queries._query2pg_client.cache_info()
    run_long_batch()
    after = _queries._query2pg_client.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses


def test_an_update_in_pk_order_changes_what_update_would_and_nothing_for_no_rows(inst):
    """``update_in_pk_order`` is ``update()`` with the rows locked in pk order: the same
    rows change, the same count comes back, and a condition no row can meet (an empty
    ``pk__in``, which Django compiles to no SQL at all) is 0, not an error: a worker with
    no task yet renews its leases over an empty list of holders."""
    tasks = ActivityTask.objects.bulk_create([task_row(inst, n) for n in (1, 2, 3)])
    chosen = ActivityTask.objects.filter(pk__in=[tasks[2].pk, tasks[0].pk])
    assert compiled.update_in_pk_order(chosen, worker="w") == 2
    assert sorted(ActivityTask.objects.filter(worker="w").values_list("task_id", flat=True)) == [
        1,
        3,
    ]
    assert compiled.update_in_pk_order(ActivityTask.objects.filter(pk__in=[]), worker="x") == 0
    assert compiled.update_in_pk_order(ActivityTask.objects.filter(worker__in=[]), worker="x") == 0
    assert not ActivityTask.objects.filter(worker="x").exists()
