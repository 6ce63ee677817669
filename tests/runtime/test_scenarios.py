"""Orchestration scenarios end to end: client -> broker -> worker -> database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.support.checks import (
    NOTHING,
    assert_history_valid,
    history,
    instance,
    kinds,
    sweep_at,
    this_hub,
    wait_until,
)
from tests.support.driver import drive
from workflows.models import ActivityTask, HistoryEvent, InboxMessage, Instance, Timer
from workflows.runtime.activities import execute_task

pytestmark = [
    pytest.mark.integration,
    pytest.mark.one_real_broker,
    pytest.mark.usefixtures("running_workers"),
]


def waiting(client, iid):
    """The instance ran its first episode and now waits (running, history written)."""

    def check():
        state = client.get_status(iid)
        return state.status == "running" and state.history_length > 0

    return check


def test_chain_passes_each_result_to_the_next_step(client):
    iid = client.start("t_chain", 10)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(range(10))
    assert_history_valid(iid)
    results = [r.payload["result"] for r in history(iid) if r.kind == "activity_completed"]
    assert results == [sum(range(i + 1)) for i in range(10)]


def test_fan_out_of_200_activities_fans_in(client):
    iid = client.start("t_fan_out", 200)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(i + 1 for i in range(200))
    assert_history_valid(iid)
    assert kinds(iid).count("activity_completed") == 200
    tasks = ActivityTask.objects.filter(instance=instance(iid))
    assert tasks.count() == 200
    assert set(tasks.values_list("status", flat=True)) == {"completed"}


def test_durable_timer_fires_after_its_delay(client):
    iid = client.start("t_timer", 0.5)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    rows = history(iid)
    created = next(r for r in rows if r.kind == "timer_created")
    fired = next(r for r in rows if r.kind == "timer_fired")
    # Due half a second after the episode that created it; fired in an episode after that.
    fire_at = datetime.fromisoformat(created.payload["fire_at"])
    assert fire_at == created.timestamp + timedelta(seconds=0.5)
    assert fired.timestamp >= fire_at
    assert state.output == created.payload["fire_at"] == fired.payload["fire_at"]
    assert Timer.objects.filter(instance=instance(iid), fired=True).count() == 1
    assert_history_valid(iid)


def test_external_event_raised_before_the_wait_is_buffered(client, tmp_path):
    gate = tmp_path / "gate"  # the first step runs until the test creates it
    iid = client.start("t_event_after_step", str(gate))
    result = client.raise_event(iid, "approve", {"ok": 1}, event_id="early")
    assert result.outcome == "delivered"
    wait_until(lambda: "event_raised" in kinds(iid), what="the event in history")
    gate.touch()
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == {"got": {"ok": 1}}
    order = kinds(iid)
    # the event landed in history before the step it waited behind had completed
    assert order.index("event_raised") < order.index("activity_completed")
    assert_history_valid(iid)


def test_external_event_raised_during_the_wait_completes_it(client):
    iid = client.start("t_wait_event", 0)
    wait_until(waiting(client, iid), what="the orchestrator to wait")
    assert client.get_status(iid).status == "running"
    client.raise_event(iid, "approve", [1, "two"])
    state = client.wait_for_completion(iid, timeout=120)
    assert state.output == {"got": [1, "two"]}
    assert kinds(iid)[-2:] == ["event_raised", "execution_completed"]
    assert_history_valid(iid)


def test_event_timeout_fails_the_wait_and_later_events_are_refused(client):
    from workflows.client import InstanceFinished

    caught = client.start("t_event_or_timeout", 0.3)
    uncaught = client.start("t_wait_event", 0.3)
    assert client.wait_for_completion(caught, timeout=120).output == {"timed_out": True}
    state = client.wait_for_completion(uncaught, timeout=120)
    assert state.status == "failed"
    assert state.failure["type"].endswith("EventTimeout")
    assert "approve" in state.failure["message"]
    with pytest.raises(InstanceFinished):
        client.raise_event(uncaught, "approve", "too late")
    assert "event_raised" not in kinds(uncaught)
    assert_history_valid(caught)


def test_sub_orchestration_result_reaches_the_parent(client):
    iid = client.start("t_parent", 4)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == {"child": sum(range(4))}
    child = Instance.objects.get(parent=instance(iid))
    grandchild = Instance.objects.get(parent=child)
    assert (child.name, child.status) == ("t_child", "completed")
    assert (grandchild.name, grandchild.status, grandchild.output) == ("t_chain", "completed", 6)
    for inst in (iid, child.instance_id, grandchild.instance_id):
        assert_history_valid(inst)


def test_sub_orchestration_failure_is_caught_by_the_parent(client):
    iid = client.start("t_parent", -1)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert "negative steps" in state.output["child_failed"]
    child = Instance.objects.get(parent=instance(iid))
    assert child.status == "failed"
    assert child.failure["type"] == "ValueError"
    assert "sub_orchestration_failed" in kinds(iid)
    assert_history_valid(iid)


def test_continue_as_new_runs_50_generations_with_bounded_history(client):
    iid = client.start("t_generations", {"n": 0, "until": 50})
    first_execution = instance(iid).execution_id
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == 50
    inst = instance(iid)
    assert inst.generation == 50
    assert inst.execution_id != first_execution
    assert inst.input == {"n": 49, "until": 50}
    # only the current execution and the one before it are kept
    executions = set(
        HistoryEvent.objects.filter(instance=inst).values_list("execution_id", flat=True)
    )
    assert len(executions) <= 2 and inst.execution_id in executions
    assert HistoryEvent.objects.filter(instance=inst).count() <= 2 * len(history(iid)) + 2
    assert_history_valid(iid)
    # activity tasks: one per generation, each of its own execution
    tasks = ActivityTask.objects.filter(instance=inst)
    assert tasks.count() == 50
    assert tasks.values("execution_id").distinct().count() == 50


def test_transient_failures_are_retried_with_one_idempotency_key(client):
    iid = client.start("t_retry", 2)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output["attempt"] == 3
    tasks = list(ActivityTask.objects.filter(instance=instance(iid)).order_by("attempt"))
    assert [(t.attempt, t.status) for t in tasks] == [
        (1, "failed"),
        (2, "failed"),
        (3, "completed"),
    ]
    keys = {t.idempotency_key for t in tasks}
    assert keys == {state.output["key"]}
    assert Timer.objects.filter(instance=instance(iid), purpose="retry").count() == 2
    assert_history_valid(iid)


def test_non_retryable_error_is_not_retried(client):
    iid = client.start("t_non_retryable", None)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "failed"
    assert "this never works" in state.failure["message"]
    tasks = ActivityTask.objects.filter(instance=instance(iid))
    assert [(t.attempt, t.status, t.runs) for t in tasks] == [(1, "failed", 1)]
    assert not Timer.objects.filter(instance=instance(iid)).exists()
    assert kinds(iid).count("activity_scheduled") == 1


def test_terminate_ends_children_and_cancels_outstanding_tasks(client):
    iid = client.start("t_busy_parent", {"tasks": 40, "sleep": 0.4})
    inst = instance(iid)
    wait_until(lambda: ActivityTask.objects.filter(instance=inst, runs__gt=0).exists())
    child = Instance.objects.get(parent=inst)  # created in the same episode as the tasks
    client.terminate(iid, "enough")
    tasks = ActivityTask.objects.filter(instance=inst)
    at_terminate = dict(tasks.values_list("pk", "status"))
    assert "scheduled" not in at_terminate.values() and "running" not in at_terminate.values()
    never_started = set(tasks.filter(runs=0).values_list("pk", flat=True))
    assert never_started, "some tasks should still have been queued"
    state = client.get_status(iid)
    assert state.status == "terminated"
    assert "enough" in state.failure["message"]
    child.refresh_from_db()
    assert child.status == "terminated"
    assert "parent" in child.failure["message"]
    before = history(iid)
    wait_until(lambda: not InboxMessage.objects.filter(instance=inst).exists(), timeout=10)
    # The queued task messages reach a worker (here: each of them, by hand): all dropped.
    for pk in at_terminate:
        assert not execute_task(pk)
    # Nor does a sweeper pass, whenever it comes, send any of them again.
    assert sweep_at(this_hub(), timezone.now() + timedelta(hours=1)) == NOTHING
    assert dict(tasks.values_list("pk", "status")) == at_terminate
    assert set(tasks.filter(runs=0).values_list("pk", flat=True)) == never_started
    assert [(r.seq, r.kind) for r in history(iid)] == [(r.seq, r.kind) for r in before]
    assert kinds(iid)[-1] == "execution_terminated"
    assert client.get_status(iid).status == "terminated"
    assert_history_valid(iid, complete=False)


def test_events_raised_while_suspended_are_applied_after_resume(client):
    iid = client.start("t_collect", 3)
    wait_until(waiting(client, iid), what="the orchestrator to wait")
    client.suspend(iid, "pause")
    assert client.get_status(iid).status == "suspended"
    client.raise_event(iid, "item", "a")
    client.raise_event(iid, "item", "b")
    # Their wake-ups run no episode, by hand or by any worker; a sweeper pass sends none.
    assert drive() == 0
    assert sweep_at(this_hub(), timezone.now() + timedelta(hours=1)) == NOTHING
    assert client.get_status(iid).status == "suspended"
    assert "event_raised" not in kinds(iid)
    assert InboxMessage.objects.filter(instance=instance(iid)).count() == 2
    client.resume(iid, "go on")
    wait_until(lambda: kinds(iid).count("event_raised") == 2, what="the buffered events")
    assert client.get_status(iid).status == "running"
    client.raise_event(iid, "item", "c")
    state = client.wait_for_completion(iid, timeout=120)
    assert state.output == ["a", "b", "c"]
    assert_history_valid(iid)


def test_custom_status_is_persisted_while_running_and_after(client):
    iid = client.start("t_progress", 3)
    wait_until(
        lambda: client.get_status(iid).custom_status == {"done": 3, "of": 3},
        what="the progress status",
    )
    assert client.get_status(iid).status == "running"
    assert instance(iid).custom_status == {"done": 3, "of": 3}
    client.raise_event(iid, "finish")
    state = client.wait_for_completion(iid, timeout=120)
    assert state.output == 3
    assert state.custom_status == {"done": 3, "of": 3, "finished": True}
