"""Workers carry bulk operations out: the bulk actor, the sweeper's re-send of a lost
wake-up, and a worker killed in the middle of a chunk (PostgreSQL + a real broker)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.bulk.conftest import audit_of
from tests.support.brokers import purge_queues
from tests.support.checks import wait_until
from tests.support.workers import uses_real_broker
from workflows.conf import conf
from workflows.models import AuditEntry, BulkItem, HistoryEvent, Instance

pytestmark = pytest.mark.integration


def terminations(ids: list[str]) -> dict[str, int]:
    """How many times each instance's history says it was terminated."""
    rows = HistoryEvent.objects.filter(
        instance__instance_id__in=ids, kind="execution_terminated"
    ).values_list("instance__instance_id", flat=True)
    found = dict.fromkeys(ids, 0)
    for iid in rows:
        found[iid] += 1
    return found


def test_a_worker_carries_out_an_operation_chunk_by_chunk(worker, client, make_instances, operator):
    ids = make_instances(120, "running")
    op = client.start_bulk(
        "terminate", filter={"name": "t_wait_event"}, reason="r", by=operator, chunk_size=25
    )

    state = client.wait_for_bulk(op.id, timeout=60)

    assert (state.status, state.done, state.skipped, state.failed) == ("completed", 120, 0, 0)
    assert state.chunks == 5
    assert set(terminations(ids).values()) == {1}


@pytest.fixture
def fast_sweeps(settings):
    settings.DURABLE_SWEEP_INTERVAL_SECONDS = 0.2
    settings.DURABLE_REDELIVER_AFTER_SECONDS = 1
    return settings


def test_a_lost_wake_up_is_sent_again_by_the_sweeper(
    transactional_db, fast_sweeps, client, make_instances, operator
):
    from workflows.runtime.worker import Worker

    make_instances(10, "running")
    op = client.start_bulk("suspend", filter={}, reason="r", by=operator)
    purge_queues(conf.TASK_HUB)  # the broker lost the message
    running = Worker(threads=2)
    running.start()
    try:
        state = client.wait_for_bulk(op.id, timeout=60)
    finally:
        running.stop()

    assert (state.status, state.done) == ("completed", 10)


def chunk_in_progress() -> bool:
    """Another connection holds a bulk operation row locked: a chunk transaction is open."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid "
            "WHERE c.relname = 'workflows_bulkoperation' AND l.mode = 'RowShareLock' "
            "AND l.pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
def test_a_worker_killed_mid_chunk_loses_nothing_and_repeats_nothing(
    worker_process_factory, client, make_instances, operator
):
    if not uses_real_broker():
        pytest.skip("needs a real broker and worker processes (DURABLE_BROKER_URL=amqp/redis)")
    ids = make_instances(400, "running")
    purge_queues(conf.TASK_HUB)  # the starts' wake-ups: this test is about the bulk chunks
    op = client.start_bulk(
        "terminate", filter={"name": "t_wait_event"}, reason="INC-9", by=operator, chunk_size=10
    )
    first = worker_process_factory(threads=2)
    wait_until(lambda: client.bulk_operation(op.id).done >= 50, timeout=180, what="a few chunks")
    wait_until(chunk_in_progress, poll=0.001, what="a chunk transaction")
    first.kill()
    at_kill = client.bulk_operation(op.id)
    assert 0 < at_kill.processed < 400, "killed too late to matter"
    # Only whole chunks committed: the one the kill interrupted changed nothing.
    assert at_kill.processed % 10 == 0
    assert Instance.objects.filter(instance_id__in=ids, status="terminated").count() == (
        at_kill.done
    )

    worker_process_factory(threads=2)
    state = client.wait_for_bulk(op.id, timeout=120)

    assert (state.status, state.matched, state.done, state.skipped, state.failed) == (
        "completed",
        400,
        400,
        0,
        0,
    )
    assert state.done == BulkItem.objects.filter(operation_id=op.id, status="done").count()
    assert set(terminations(ids).values()) == {1}, "each instance terminated exactly once"
    entries = AuditEntry.objects.filter(action="terminate", instance_ref__in=ids)
    assert entries.count() == 400
    assert {e.detail["bulk_operation"] for e in entries} == {op.id}
    assert audit_of(ids[-1]) == [("terminate", op.id, "INC-9")]
    assert Instance.objects.filter(instance_id__in=ids, status="terminated").count() == 400
