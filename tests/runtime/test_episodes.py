"""Episodes: idempotent wake-ups, deduplicated deliveries, cache and replay alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.checks import assert_history_valid, history, instance, kinds, snapshot
from tests.support.driver import drive
from tests.support.episodes import run_episode
from workflows.engine import events as ev
from workflows.inbox import deliver
from workflows.models import ActivityTask, ExternalEvent, InboxMessage, Timer
from workflows.runtime import actors
from workflows.runtime.activities import execute_task
from workflows.runtime.cache import sticky_cache
from workflows.runtime.sweeper import fire_due_timers


def test_a_repeated_wake_up_runs_no_second_episode(client):
    iid = client.start("t_chain", 2)
    pk = instance(iid).pk
    assert run_episode(pk) is True
    before = snapshot(iid)
    assert run_episode(pk) is False  # nothing new in the inbox
    actors.run_orchestration(pk)  # the actor, as a duplicate message runs it
    assert snapshot(iid) == before
    assert kinds(iid).count("activity_scheduled") == 1


def test_an_event_id_raised_twice_is_delivered_once(client):
    iid = client.start("t_collect", 2)
    drive()
    first = client.raise_event(iid, "item", "a", event_id="evt-1")
    again = client.raise_event(iid, "item", "a", event_id="evt-1")
    assert (first.outcome, again.outcome, again.first_outcome) == (
        "delivered",
        "duplicate",
        "delivered",
    )
    assert InboxMessage.objects.filter(instance=instance(iid)).count() == 1
    drive()
    client.raise_event(iid, "item", "a", event_id="evt-1")  # after it was applied, too
    drive()
    assert kinds(iid).count("event_raised") == 1
    assert client.get_status(iid).status == "running"  # still waits for a second item
    client.raise_event(iid, "item", "b", event_id="evt-2")
    drive()
    assert client.get_status(iid).output == ["a", "b"]
    assert ExternalEvent.objects.filter(instance=instance(iid)).count() == 2


def test_a_timer_fires_once_however_often_it_is_delivered(client):
    iid = client.start("t_timer", 30)
    drive()
    inst = instance(iid)
    timer = Timer.objects.get(instance=inst)
    later = timer.fire_at + timedelta(seconds=1)
    assert fire_due_timers(inst.task_hub, timezone.now()) == 0  # not due yet
    assert fire_due_timers(inst.task_hub, later) == 1
    assert fire_due_timers(inst.task_hub, later) == 0
    # the same wake-up delivered again by hand (e.g. a second poller) is dropped
    fired = ev.TimerFired(timer.task_id, timer.fire_at)
    key = f"timer:{timer.execution_id}:{timer.task_id}"
    assert deliver(inst, fired, dedup_key=key, execution_id=timer.execution_id) is False
    assert InboxMessage.objects.filter(instance=inst).count() == 1
    drive()
    assert kinds(iid).count("timer_fired") == 1
    assert client.get_status(iid).status == "completed"
    assert_history_valid(iid)


def test_a_late_result_for_an_old_execution_changes_nothing(client):
    iid = client.start("t_generations", {"n": 0, "until": 3})
    inst = instance(iid)
    first_execution = inst.execution_id
    assert run_episode(inst.pk)  # generation 1 schedules its activity
    task = ActivityTask.objects.get(instance=inst)
    # The result and the episode it wakes share one commit: it continues as new.
    assert execute_task(task.pk)
    inst.refresh_from_db()
    assert inst.generation == 2 and inst.execution_id != first_execution
    assert run_episode(inst.pk)  # generation 2 starts and waits for its activity
    before = snapshot(iid)
    # the first execution's result is delivered again, late (a redelivered message)
    late = ev.ActivityCompleted(task.task_id, 999)
    assert deliver(inst, late, dedup_key="late", execution_id=first_execution)
    assert run_episode(inst.pk) is False
    assert snapshot(iid) == before
    assert not InboxMessage.objects.filter(instance=inst).exists()
    drive()
    inst.refresh_from_db()
    assert (inst.status, inst.generation, inst.output) == ("completed", 3, 3)
    assert_history_valid(iid)


@pytest.mark.parametrize("cache_size", [0, 1000])
def test_history_is_the_same_with_and_without_the_sticky_cache(client, cache_size):
    """docs/architecture.md, "The sticky cache": a cache hit applies only new events; a miss
    replays. Same result."""
    cache = sticky_cache()
    size, cache.size = cache.size, cache_size
    try:
        cache.clear()
        hits = cache.hits
        iid = client.start("t_progress", 3)
        drive()
        client.raise_event(iid, "finish", event_id="done")
        drive()
        used_cache = cache.hits > hits
    finally:
        cache.size = size
        cache.clear()
    assert used_cache is (cache_size > 0)
    state = client.get_status(iid)
    assert (state.status, state.output) == ("completed", 3)
    assert state.custom_status == {"done": 3, "of": 3, "finished": True}
    shape = [(seq, kind) for seq, kind, _ in snapshot(iid)]
    assert shape == EXPECTED_PROGRESS_SHAPE
    assert_history_valid(iid)


EXPECTED_PROGRESS_SHAPE = list(
    enumerate(
        [
            "orchestrator_started",
            "execution_started",
            "activity_scheduled",
            "orchestrator_started",
            "activity_completed",
            "activity_scheduled",
            "orchestrator_started",
            "activity_completed",
            "activity_scheduled",
            "orchestrator_started",
            "activity_completed",
            "orchestrator_started",
            "event_raised",
            "execution_completed",
        ],
        start=1,
    )
)


class _Abort(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_the_cache_holds_an_episode_state_from_before_its_commit_until_it_commits(client):
    """The next episode (another thread, right after the commit) finds it: no full replay."""
    from django.db import transaction

    from workflows.episodes import episode_locked, lock_instance

    cache = sticky_cache()
    cache.clear()
    iid = client.start("t_chain", 3)
    pk = instance(iid).pk
    with transaction.atomic():
        episode_locked(lock_instance(pk))
        provisional = cache._entries[pk][3]
        assert provisional is not None  # usable only by a row carrying this stamp
    assert cache._entries[pk][3] is None  # committed: a plain entry
    assert provisional == instance(iid).updated_at


@pytest.mark.django_db(transaction=True)
def test_the_state_of_an_episode_that_rolled_back_is_never_used(client, monkeypatch):
    """Even when another process then commits a history of the same length."""
    from django.db import transaction

    from workflows.episodes import episode_locked, lock_instance
    from workflows.runtime import cache as cache_module

    cache = sticky_cache()
    cache.clear()
    iid = client.start("t_chain", 3)
    pk = instance(iid).pk
    assert run_episode(pk)  # the first step is scheduled; the state is cached here
    task = ActivityTask.objects.get(instance_id=pk)
    deliver(instance(iid), ev.ActivityCompleted(task.task_id, 0), dedup_key="r0", wake=False)
    with pytest.raises(_Abort), transaction.atomic():
        episode_locked(lock_instance(pk))  # applied result 0 in memory ...
        raise _Abort  # ... and the commit never happened
    # Another worker process (its own cache) applies a different result for that step.
    InboxMessage.objects.filter(instance_id=pk).delete()
    deliver(instance(iid), ev.ActivityCompleted(task.task_id, 5), dedup_key="r5", wake=False)
    with monkeypatch.context() as other_process:
        other_process.setattr(cache_module, "_cache", cache_module.StickyCache(10))
        assert run_episode(pk)
    assert instance(iid).history_length == cache._entries[pk][2].history_length  # same length
    second = ActivityTask.objects.get(instance_id=pk, task_id__gt=task.task_id)
    deliver(instance(iid), ev.ActivityCompleted(second.task_id, 6), dedup_key="r6", wake=False)
    misses = cache.misses
    assert run_episode(pk)  # here: the rolled-back state must not be taken for this history
    assert cache.misses == misses + 1
    results = [e.payload["result"] for e in history(iid) if e.kind == "activity_completed"]
    assert results == [5, 6]
    assert_history_valid(iid, complete=False)
