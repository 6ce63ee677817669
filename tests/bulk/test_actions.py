"""Each bulk action changes what its single action changes, skips (with the single action's
reason) what does not allow it, and tags each changed instance's audit entry."""

from __future__ import annotations

import pytest

from tests.bulk.conftest import audit_of, drive
from workflows.models import (
    BulkItem,
    CompensationRecord,
    ExternalEvent,
    HistoryEvent,
    Instance,
)

pytestmark = pytest.mark.django_db


def statuses(*ids: str) -> list[str]:
    found = dict(Instance.objects.filter(instance_id__in=ids).values_list("instance_id", "status"))
    return [found.get(i, "gone") for i in ids]


def outcome(operation_id: int, target: str) -> tuple[str, str]:
    item = BulkItem.objects.get(operation_id=operation_id, target=target)
    return item.status, item.reason


def test_terminate_ends_active_instances_and_skips_finished_ones(
    client, make_instances, operator, run_all
):
    running = make_instances(3, "running", prefix="run")
    suspended = make_instances(1, "suspended", prefix="sus")
    done = make_instances(1, "completed", prefix="done")

    op = client.start_bulk(
        "terminate", filter={"name": "t_wait_event"}, reason="INC-7 bad deploy", by=operator
    )
    state = run_all(op.id)

    assert (state.status, state.matched, state.done, state.skipped, state.failed) == (
        "completed",
        5,
        4,
        1,
        0,
    )
    assert statuses(*running, *suspended, *done) == ["terminated"] * 4 + ["completed"]
    status, reason = outcome(op.id, done[0])
    assert status == "skipped" and "already finished (completed)" in reason
    for iid in running:
        assert audit_of(iid) == [("terminate", op.id, "INC-7 bad deploy")]
        kinds = HistoryEvent.objects.filter(instance__instance_id=iid).values_list(
            "kind", flat=True
        )
        assert list(kinds).count("execution_terminated") == 1
    assert audit_of(done[0]) == []


def test_suspend_and_resume(client, make_instances, operator, run_all):
    running = make_instances(2, "running", prefix="run")
    finished = make_instances(1, "failed", prefix="failed")

    suspend = client.start_bulk(
        "suspend", instance_ids=[*running, *finished], reason="maintenance", by=operator
    )
    state = run_all(suspend.id)
    assert (state.done, state.skipped) == (2, 1)
    assert statuses(*running, *finished) == ["suspended", "suspended", "failed"]
    assert "only a pending or running instance" in outcome(suspend.id, finished[0])[1]

    resume = client.start_bulk(
        "resume", filter={"status": ["suspended", "failed"]}, reason="done", by=operator
    )
    state = run_all(resume.id)
    assert (state.done, state.skipped) == (2, 1)
    # never started (no history): back to pending
    assert statuses(*running, *finished) == ["pending", "pending", "failed"]
    assert audit_of(running[0]) == [
        ("suspend", suspend.id, "maintenance"),
        ("resume", resume.id, "done"),
    ]


def test_rewind_reruns_failed_instances_and_skips_running_ones(client, operator, run_all):
    failed = client.start("t_non_retryable", None, instance_id="broken-1")
    assert drive(client, failed) == "failed"
    waiting = client.start("t_wait_event", None, instance_id="waiting-1")
    assert drive(client, waiting) == "running"

    op = client.start_bulk(
        "rewind", instance_ids=[failed, waiting], reason="dependency fixed", by=operator
    )
    state = run_all(op.id)

    assert (state.done, state.skipped) == (1, 1)
    assert statuses(failed, waiting) == ["running", "running"]
    assert "only a failed instance can be rewound" in outcome(op.id, waiting)[1]
    assert audit_of(failed) == [("rewind", op.id, "dependency fixed")]


def test_retry_episode_and_restart(client, make_instances, operator, run_all):
    running = make_instances(2, "running", prefix="run")
    finished = make_instances(2, "terminated", prefix="ended")

    retry = client.start_bulk(
        "retry_episode", filter={"status": ["running", "terminated"]}, reason="fix", by=operator
    )
    state = run_all(retry.id)
    assert (state.done, state.skipped) == (2, 2)

    restart = client.start_bulk(
        "restart", filter={"status": ["terminated"]}, reason="again", by=operator
    )
    state = run_all(restart.id)
    assert (state.done, state.skipped) == (2, 0)
    assert statuses(*finished) == ["pending", "pending"]
    assert audit_of(finished[0]) == [("restart", restart.id, "again")]
    assert audit_of(running[0]) == [("retry_episode", retry.id, "fix")]


def test_purge_deletes_finished_instances_and_keeps_their_outcomes(
    client, make_instances, operator, run_all
):
    finished = make_instances(3, "terminated", prefix="ended")
    running = make_instances(1, "running", prefix="run")

    op = client.start_bulk("purge", filter={"name": "t_wait_event"}, reason="tidy", by=operator)
    state = run_all(op.id)

    assert (state.done, state.skipped) == (3, 1)
    assert statuses(*finished, *running) == ["gone", "gone", "gone", "running"]
    assert outcome(op.id, finished[0]) == ("done", "")
    assert audit_of(finished[0]) == [("purge", op.id, "tidy")]  # the entry outlives the row


def test_raise_event_delivers_the_same_event_to_every_waiting_instance(client, operator, run_all):
    ids = [client.start("t_wait_event", None, instance_id=f"wait-{n}") for n in range(3)]
    for iid in ids:
        assert drive(client, iid) == "running"
    ended = client.start("t_wait_event", None, instance_id="ended-1")
    client.terminate(ended)

    op = client.start_bulk(
        "raise_event",
        instance_ids=[*ids, ended],
        reason="approve the backlog",
        by=operator,
        event_name="approve",
        event_data={"ok": True},
    )
    state = run_all(op.id)

    assert (state.done, state.skipped) == (3, 1)
    assert "already finished" in outcome(op.id, ended)[1]
    for iid in ids:
        assert drive(client, iid) == "completed"
        assert client.get_status(iid).output == {"got": {"ok": True}}
        event = ExternalEvent.objects.get(instance__instance_id=iid)
        assert (event.event_id, event.sender) == (f"bulk-{op.id}", "olga")
        assert audit_of(iid) == [("raise_event", op.id, "approve the backlog")]


@pytest.fixture
def failed_compensations(client):
    """Failed compensation records: two on running instances, one whose instance ended."""
    records = []
    for iid, status in (("order-1", "running"), ("order-2", "suspended"), ("order-3", "completed")):
        client.start("t_wait_event", None, instance_id=iid)
        Instance.objects.filter(instance_id=iid).update(
            status=status, needs_attention=True, attention_reason="compensation failed"
        )
        instance = Instance.objects.get(instance_id=iid)
        records.append(
            CompensationRecord.objects.create(
                instance=instance,
                execution_id=instance.execution_id,
                task_id=2,
                compensation_id=f"{iid}:comp:2",
                step="release",
                activity="t_release",
                order=1,
                status="failed",
                attempts=1,
            )
        )
    return records


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("compensation_retry", "compensating"),
        ("compensation_resolve", "resolved_manually"),
        ("compensation_skip", "skipped"),
    ],
)
def test_compensation_decisions(client, operator, run_all, failed_compensations, action, status):
    op = client.start_bulk(
        action, filter={"activity": "t_release"}, reason="released in the WMS", by=operator
    )
    state = run_all(op.id)

    assert (state.matched, state.done, state.skipped) == (3, 2, 1)
    records = {
        r.instance.instance_id: r for r in CompensationRecord.objects.select_related("instance")
    }
    assert [records[i].status for i in ("order-1", "order-2", "order-3")] == [
        status,
        status,
        "failed",
    ]
    assert records["order-1"].resolution_note == "released in the WMS"
    assert records["order-1"].resolved_by == operator
    assert "no longer waits for this decision" in outcome(op.id, str(records["order-3"].pk))[1]
    assert audit_of("order-1") == [(action, op.id, "released in the WMS")]
    assert not Instance.objects.get(instance_id="order-1").needs_attention


def test_compensation_ids_listed_explicitly(client, operator, run_all, failed_compensations):
    first = failed_compensations[0]
    op = client.start_bulk(
        "compensation_skip", compensation_ids=[first.pk, 999999], reason="gone", by=operator
    )
    state = run_all(op.id)

    assert (state.matched, state.done, state.skipped) == (2, 1, 1)
    assert "No compensation record '999999'" in outcome(op.id, "999999")[1]
