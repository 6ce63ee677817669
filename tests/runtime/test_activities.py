"""Activity tasks: claimed under a lease, run at least once, recorded exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests.support.checks import assert_history_valid, instance, snapshot
from tests.support.driver import drive
from tests.support.episodes import run_episode
from tests.support.outcomes import record_task_outcome
from workflows.engine import FailureDetails
from workflows.models import ActivityTask, HistoryEvent, InboxMessage
from workflows.runtime import actors
from workflows.runtime.activities import claim_task, execute_task


def touches(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def scheduled(client, tmp_path):
    """An instance whose first activity (t_touch) is scheduled and not yet run."""
    path = tmp_path / "touches.txt"
    iid = client.start("t_touch_twice", str(path))
    assert run_episode(instance(iid).pk)
    task = ActivityTask.objects.get(instance=instance(iid))
    assert task.status == "scheduled"
    return iid, task, path


def test_running_the_same_task_twice_runs_the_activity_once(scheduled):
    iid, task, path = scheduled
    assert execute_task(task.pk) is True
    assert execute_task(task.pk) is False  # duplicate delivery: acknowledged, ignored
    actors.run_activity(task.pk)  # the actor itself, as a redelivered message runs it
    task.refresh_from_db()
    assert (task.status, task.runs, task.result) == ("completed", 1, 1)
    # The first task ran once; its result went straight into the next episode (one commit).
    assert [t for t in touches(path) if t.startswith(task.idempotency_key + " ")] == [
        f"{task.idempotency_key} 1"
    ]
    # Read in Python: a JSON lookup cannot see into an encrypted payload (codec mode).
    completions = HistoryEvent.objects.filter(instance=task.instance, kind="activity_completed")
    assert [e.payload["task_id"] for e in completions].count(task.task_id) == 1
    assert InboxMessage.objects.filter(instance=task.instance).count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_task_run_it_once(scheduled):
    iid, task, path = scheduled
    start = threading.Barrier(2)
    recorded: list[bool] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        start.wait()
        try:
            recorded.append(execute_task(task.pk))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(recorded) == [False, True]
    task.refresh_from_db()
    assert (task.status, task.runs) == ("completed", 1)
    assert [t for t in touches(path) if t.startswith(task.idempotency_key + " ")] == [
        f"{task.idempotency_key} 1"
    ]


def test_a_live_lease_keeps_a_second_delivery_off(scheduled):
    iid, task, path = scheduled
    claimed = claim_task(task.pk)  # a worker took it and is still running it
    assert claimed is not None and claimed.status == "running"
    assert execute_task(task.pk) is False
    assert touches(path) == []
    task.refresh_from_db()
    assert (task.status, task.runs) == ("running", 1)


def test_the_same_outcome_recorded_twice_is_applied_once(scheduled):
    iid, task, path = scheduled
    assert claim_task(task.pk) is not None
    assert record_task_outcome(task.pk, True, 41, None) is True
    assert record_task_outcome(task.pk, True, 41, None) is False
    # a late, different outcome (e.g. of a run whose lease had expired) loses too
    failure = FailureDetails("RuntimeError", "late")
    assert record_task_outcome(task.pk, False, None, failure) is False
    assert InboxMessage.objects.filter(instance=task.instance).count() == 1
    drive()
    task.refresh_from_db()
    assert (task.status, task.result, task.failure) == ("completed", 41, None)
    rows = snapshot(iid)
    done = [payload for _, kind, payload in rows if kind == "activity_completed"]
    assert done == [{"task_id": 1, "result": 41}, {"task_id": 2, "result": 2}]
    assert instance(iid).output == 43
    assert_history_valid(iid)


def test_a_cancelled_task_is_never_started(client, scheduled):
    iid, task, path = scheduled
    client.terminate(iid, "stop")
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert execute_task(task.pk) is False
    task.refresh_from_db()
    assert (task.status, task.runs, task.started_at) == ("cancelled", 0, None)
    assert touches(path) == []


def test_activity_context_carries_attempt_and_idempotency_key(scheduled):
    iid, task, path = scheduled
    drive()
    lines = touches(path)
    keys = [line.split()[0] for line in lines]
    assert [line.split()[1] for line in lines] == ["1", "1"]
    tasks = list(ActivityTask.objects.filter(instance=task.instance).order_by("task_id"))
    assert keys == [t.idempotency_key for t in tasks]
    inst = instance(iid)
    assert keys[0] == f"{iid}:{inst.execution_id}:1"
    assert len(set(keys)) == 2


def test_a_result_merged_with_the_next_episode_writes_what_the_inbox_path_writes(client):
    """The fast path (result + next episode in one commit) is only an optimization."""
    import json

    from workflows.engine import default_registry
    from workflows.runtime.activities import attempt

    merged = client.start("t_chain", 6)
    drive()  # execute_task: each result and the episode it wakes share a commit
    separate = client.start("t_chain", 6)
    pk = instance(separate).pk
    while run_episode(pk):  # the result goes to the inbox; the next episode applies it
        task = ActivityTask.objects.filter(instance_id=pk, status="scheduled").first()
        if task is None:
            break
        task = claim_task(task.pk)
        outcome = attempt(task, default_registry)
        assert record_task_outcome(task.pk, outcome.ok, outcome.result, outcome.failure)

    def comparable(iid):
        rows = snapshot(iid)
        return [
            (seq, kind, None if kind == "orchestrator_started" else json.dumps(payload))
            for seq, kind, payload in rows
        ], instance(iid).output

    one, other = comparable(merged), comparable(separate)
    assert one[1] == other[1] == sum(range(6))
    assert len(one[0]) == len(other[0]) > 20
    for a, b in zip(one[0], other[0], strict=True):
        assert a == (b[0], b[1], b[2] and b[2].replace(separate, merged))


@pytest.mark.parametrize("parallel", [4, 16, 64])
def test_a_bounded_fan_out_result_starts_the_next_task_in_its_own_commit(client, parallel):
    """No cliff past 8 open tasks: while the row is free, a result of a bounded fan-out
    merges with the episode, which schedules the next item and claims it for this thread
    (beyond 8, the inbox and a wake-up through the broker were the path)."""
    from workflows.engine import default_registry
    from workflows.runtime.activities import attempt, finish_task

    iid = client.start("t_bounded_slow", {"count": parallel + 5, "parallel": parallel, "sleep": 0})
    run_episode(instance(iid).pk)  # caches it here with ``parallel`` tasks open
    first = ActivityTask.objects.filter(instance__instance_id=iid, status="scheduled").first()
    task = claim_task(first.pk)
    for _ in range(5):  # each result starts the next item on this thread
        recorded, task = finish_task(task, attempt(task, default_registry), default_registry)
        assert recorded and task is not None
        assert not InboxMessage.objects.filter(instance__instance_id=iid).exists()
    assert ActivityTask.objects.filter(instance__instance_id=iid, status="completed").count() == 5
