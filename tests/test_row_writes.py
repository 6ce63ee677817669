"""workflows/row_writes.py: many rows in one statement (VALUES, or one array per column),
read back as written; a parent row and its child in one statement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.support.rows import COLUMNS, history_event, history_row, new_instance, sent, task_row
from workflows import row_writes
from workflows.models import ActivityTask, HistoryEvent, InboxMessage, Instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def inst(db):
    return new_instance("batch-1")


AWKWARD = ['a "quoted", {braced} \\ text', "NULL", "", "it's", "ünï ☃", " lead", "a,b", "{}"]


def test_many_rows_go_as_one_statement_and_read_back_as_written(inst):
    """From row_writes.UNNEST_FROM rows, PostgreSQL gets one array per column (a statement of
    one shape); every value, awkward texts and nulls too, reads back as written, and the
    primary keys come back in the order of the objects."""
    count = row_writes.UNNEST_FROM + 3
    texts = [AWKWARD[i % len(AWKWARD)] for i in range(count)]
    rows = [
        (inst.pk, "e1", seq, "event_raised", {"t": texts[seq], "n": None}, inst.created_at)
        for seq in range(count)
    ]
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        row_writes.insert_rows(HistoryEvent, COLUMNS, rows)
        events = [history_event(inst, 100 + seq) for seq in range(count)]
        for event, text in zip(events, texts, strict=True):
            event.kind = text
        row_writes.insert_objects(events)
    inserts = [sql for sql in sent(captured) if sql.startswith("INSERT")]
    if connection.vendor == "postgresql":
        assert len(inserts) == 2 and all("unnest(" in sql for sql in inserts)
    stored = {e.seq: e for e in HistoryEvent.objects.filter(instance=inst)}
    for seq in range(count):
        assert stored[seq].payload == {"t": texts[seq], "n": None}
        assert stored[seq].timestamp == inst.created_at
    for event, text in zip(events, texts, strict=True):
        assert stored[event.seq].pk == event.pk and stored[event.seq].kind == text


def test_many_tasks_keep_their_nulls_and_durations(inst):
    """Nullable columns of many rows (an array with NULLs, an interval array)."""
    tasks = [
        task_row(
            inst,
            n,
            input=[AWKWARD[n % len(AWKWARD)]],
            start_to_close=timedelta(seconds=n) if n % 2 else None,
        )
        for n in range(1, row_writes.UNNEST_FROM + 2)
    ]
    with transaction.atomic():
        row_writes.insert_objects(tasks)
    for task in tasks:
        stored = ActivityTask.objects.get(pk=task.pk)
        assert (stored.task_id, stored.input, stored.start_to_close, stored.result) == (
            task.task_id,
            task.input,
            task.start_to_close,
            None,
        )


def test_fewer_rows_keep_the_values_form(inst):
    """Below row_writes.UNNEST_FROM, the VALUES statement (the same text for each row count:
    psycopg's cache of parsed queries holds a step's)."""
    rows = [history_row(inst, seq) for seq in range(row_writes.UNNEST_FROM - 1)]
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        row_writes.insert_rows(HistoryEvent, COLUMNS, rows)
    inserts = [sql for sql in sent(captured) if sql.startswith("INSERT")]
    assert inserts and not any("unnest(" in sql for sql in inserts)
    assert HistoryEvent.objects.filter(instance=inst).count() == len(rows)


def test_a_failing_row_of_many_fails_the_whole_statement(inst):
    """One statement: a duplicate among many rows writes none of them."""
    rows = [history_row(inst, seq) for seq in range(row_writes.UNNEST_FROM)]
    rows.append(history_row(inst, 3))  # (instance, execution, seq) is unique
    with pytest.raises(IntegrityError), transaction.atomic():
        row_writes.insert_rows(HistoryEvent, COLUMNS, rows)
    assert HistoryEvent.objects.filter(instance=inst).count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [True, False])
def test_a_parent_and_its_child_go_in_one_statement_and_both_get_their_keys(in_transaction):
    parent = Instance(task_hub="default", instance_id="with-child", name="t_chain")
    parent.execution_id = "e1"
    child = InboxMessage(instance=parent, execution_id="e1", kind="event_raised", payload=[1])
    with CaptureQueriesContext(connection) as captured:
        if in_transaction:
            with (block := transaction.atomic()):
                row_writes.insert_with_child(parent, child, "instance", commit=block)
        else:
            row_writes.insert_with_child(parent, child, "instance")
    stored = InboxMessage.objects.get(pk=child.pk)
    assert stored.instance_id == parent.pk == Instance.objects.get(instance_id="with-child").pk
    assert stored.payload == [1] and child.instance is parent
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    if connection.vendor == "postgresql":
        # In a transaction the COMMIT goes in the statement's round trip (Django logs it).
        assert statements == (["BEGIN", "WITH", "COMMIT"] if in_transaction else ["WITH"])
        carried = captured.captured_queries[1 if in_transaction else 0]["sql"]
        assert carried.endswith("; COMMIT") == in_transaction
    else:
        assert statements.count("INSERT") == 2
