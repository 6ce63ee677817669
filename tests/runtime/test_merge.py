"""Results of one fan-out that finish together share one episode (runtime/merge.py)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.support import workflows  # noqa: F401 - registers the test workflows
from tests.support.checks import assert_history_valid, instance, wait_until
from tests.support.episodes import run_episode
from workflows import episodes
from workflows.engine import default_registry
from workflows.episodes import OWNER_ACTIVE
from workflows.models import ActivityTask, HistoryEvent, InboxMessage, Instance
from workflows.runtime import merge
from workflows.runtime.activities import attempt, claim_task, execute_task, finish_task, run_chain
from workflows.runtime.cache import sticky_cache
from workflows.runtime.merge import BACKLOG_MAX_SECONDS
from workflows.runtime.outcomes import record_and_wake


def test_results_arriving_during_a_round_share_the_next_one(durable_client, monkeypatch):
    iid = durable_client.start("t_bounded_slow", {"count": 8, "parallel": 4, "sleep": 0})
    pk = instance(iid).pk
    # Earlier tests' rounds of a same-numbered instance (the test database reuses pks)
    # handed tasks to this thread: it owes nothing here, so the first round gathers nobody.
    merge._owing.clear()
    run_episode(pk)  # cached here, 4 tasks open
    tasks = [claim_task(t.pk) for t in ActivityTask.objects.filter(instance_id=pk)]
    outcomes = [attempt(task, default_registry) for task in tasks]
    # The first round holds the row until the three other results have arrived.
    real_lock, rounds = merge.lock_instance, []

    def slow_lock(instance_pk, wait=True, then=None):
        if not rounds:
            wait_until(lambda: len(merge._waiting.get(instance_pk, ())) == 3, what="arrivals")
        rounds.append(instance_pk)
        return real_lock(instance_pk, wait, then)

    monkeypatch.setattr(merge, "lock_instance", slow_lock)
    got: dict[int, tuple] = {}
    names: dict[int, str] = {}

    def finish(i: int) -> None:
        names[i] = threading.current_thread().name
        try:
            got[i] = finish_task(tasks[i], outcomes[i], default_registry)
        finally:
            connection.close()

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
        wait_until(lambda: pk in merge._leading, what="a leader")  # the first one leads
    for thread in threads:
        thread.join()
    assert len(rounds) == 2  # the leader's own result, then the other three together
    assert all(recorded for recorded, _next in got.values())
    # Every thread goes on with a next item claimed for it in its round's commit.
    claimed = [next_task for _recorded, next_task in got.values()]
    assert all(claimed) and len({t.pk for t in claimed}) == 4
    for i, (_recorded, next_task) in got.items():  # held under its own thread's name
        assert next_task.worker.endswith(":" + names[i])
        assert ActivityTask.objects.get(pk=next_task.pk).worker == next_task.worker
    episodes = HistoryEvent.objects.filter(instance_id=pk, kind="orchestrator_started").count()
    assert episodes == 3  # the start, then one per round
    assert not merge._waiting and not merge._leading
    for task in claimed:  # run the rest one by one: the same outcome as ever
        while task is not None:
            _recorded, task = finish_task(task, attempt(task, default_registry), default_registry)
    assert instance(iid).status == "completed"
    assert instance(iid).output == sum(range(1, 9))
    assert_history_valid(iid)


def test_a_failed_round_leaves_each_result_to_be_recorded_alone(durable_client, monkeypatch):
    from django.db import OperationalError

    iid = durable_client.start("t_bounded_slow", {"count": 4, "parallel": 2, "sleep": 0})
    pk = instance(iid).pk
    run_episode(pk)
    task = claim_task(ActivityTask.objects.filter(instance_id=pk).first().pk)

    def deadlock(*args, **kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(merge, "_round", deadlock)
    recorded, next_task = finish_task(task, attempt(task, default_registry), default_registry)
    assert recorded and next_task is not None  # recorded alone, merged with its episode
    assert ActivityTask.objects.get(pk=task.pk).status == "completed"
    assert not merge._waiting and not merge._leading


def _open_tasks(pk: int) -> list[ActivityTask]:
    return list(ActivityTask.objects.filter(instance_id=pk, status="scheduled").order_by("pk"))


def _episodes(pk: int) -> int:
    return HistoryEvent.objects.filter(instance_id=pk, kind="orchestrator_started").count()


def test_a_round_waits_for_the_threads_the_last_one_handed_tasks_to(durable_client, monkeypatch):
    iid = durable_client.start("t_bounded_slow", {"count": 4, "parallel": 2, "sleep": 0})
    pk = instance(iid).pk
    merge._owing.clear()
    run_episode(pk)
    first, second = (claim_task(t.pk) for t in _open_tasks(pk))
    results = {t.pk: attempt(t, default_registry) for t in (first, second)}
    for name in ("GATHER_MIN_SECONDS", "GATHER_MAX_SECONDS"):  # the test decides who is late
        monkeypatch.setattr(merge, name, 30.0)
    go = threading.Event()
    got: dict[int, tuple] = {}

    def finish(task) -> None:
        if task is second:
            go.wait()
        try:
            got[task.pk] = finish_task(task, results[task.pk], default_registry)
        finally:
            connection.close()

    late = threading.Thread(target=finish, args=(second,))
    late.start()
    merge._owing[pk] = {late.ident: time.monotonic()}  # a round handed it a task of pk
    leader = threading.Thread(target=finish, args=(first,))
    leader.start()
    wait_until(lambda: pk in merge._leading, what="a leader")
    time.sleep(0.2)
    assert _episodes(pk) == 1  # the leader is still gathering: only the start ran
    go.set()
    for thread in (leader, late):
        thread.join()
    assert _episodes(pk) == 2  # both results in one round
    assert all(recorded and next_task is not None for recorded, next_task in got.values())
    # Both go on with a next item: the next round waits for them in turn.
    assert set(merge._owing[pk]) == {leader.ident, late.ident}


def test_a_round_gathers_nobody_when_no_thread_owes_it_a_result(durable_client):
    iid = durable_client.start("t_bounded_slow", {"count": 4, "parallel": 2, "sleep": 0})
    pk = instance(iid).pk
    merge._owing.clear()
    run_episode(pk)
    task = claim_task(_open_tasks(pk)[0].pk)
    started = time.monotonic()
    recorded, next_task = finish_task(task, attempt(task, default_registry), default_registry)
    assert recorded and next_task is not None
    assert time.monotonic() - started < merge.GATHER_MAX_SECONDS + 5  # no 30 s wait
    assert _episodes(pk) == 2


def test_a_quick_chain_takes_its_share_of_the_tasks_waiting_for_messages(durable_client):
    iid = durable_client.start("t_bounded_slow", {"count": 16, "parallel": 8, "sleep": 0})
    pk = instance(iid).pk
    merge._owing.clear()
    run_episode(pk)  # 8 scheduled, each with a message of its own
    waiting = _open_tasks(pk)
    task = claim_task(waiting[0].pk)
    outcome = attempt(task, default_registry)
    # Quick by definition here (under 10 ms): a loaded machine measured 12 ms once and
    # the thread rightly took nothing along.
    task.attempt_seconds = 0.001
    recorded, next_task = finish_task(task, outcome, default_registry)
    if connection.vendor == "sqlite":  # one writer at a time: no groups (merge._group_size)
        assert recorded and not getattr(next_task, "group", None)
        return
    # One new item for the result, and one waiting task along: 8 open / 4 shares = 2.
    assert recorded and next_task.name == "t_slow_add"
    group = next_task.group
    assert [t.pk for t in group] == [waiting[1].pk]  # the oldest still waiting
    held = ActivityTask.objects.get(pk=waiting[1].pk)
    assert (held.status, held.worker, held.runs) == ("running", next_task.worker, 1)
    # Its message, when it comes, finds it taken and runs nothing.
    assert execute_task(waiting[1].pk) is False
    assert ActivityTask.objects.get(pk=waiting[1].pk).runs == 1
    assert run_chain(next_task)  # the group, then whatever each round hands on
    for task in _open_tasks(pk):  # the rest by their messages
        execute_task(task.pk)
    assert instance(iid).status == "completed"
    assert instance(iid).output == sum(range(1, 17))
    assert set(ActivityTask.objects.filter(instance_id=pk).values_list("runs", flat=True)) == {1}
    assert_history_valid(iid)


@pytest.mark.postgres
def test_at_64_open_a_quick_chain_takes_a_quarter_of_them(durable_client):
    """64 open (the widest fan-out whose tasks have a message each): a thread holds 16, so
    the four threads of the process running the fan-out keep all of it. With 8 at most,
    half of it went through a second worker process and the inbox: 500 at 64 ran at about
    half the rate of one worker process."""
    iid = durable_client.start("t_bounded_slow", {"count": 80, "parallel": 64, "sleep": 0})
    pk = instance(iid).pk
    merge._owing.clear()
    run_episode(pk)
    waiting = _open_tasks(pk)
    assert len(waiting) == 64
    task = claim_task(waiting[0].pk)
    outcome = attempt(task, default_registry)
    task.attempt_seconds = 0.001  # quick by definition, as above
    recorded, next_task = finish_task(task, outcome, default_registry)
    # The new item for the result, and the 15 oldest tasks still waiting for messages.
    assert recorded and [t.pk for t in next_task.group] == [t.pk for t in waiting[1:16]]


@pytest.mark.postgres
def test_a_group_the_backlog_cannot_fill_takes_the_tasks_of_inbox_results(durable_client):
    """A result another process left in the inbox makes the round schedule one task more
    than the results it brought. With every other task running elsewhere (no backlog),
    the thread's group takes that task too: unclaimed, it went by a message to the other
    process again, and its result came back through the inbox, round after round."""
    iid = durable_client.start("t_bounded_slow", {"count": 40, "parallel": 16, "sleep": 0})
    pk = instance(iid).pk
    merge._owing.clear()
    run_episode(pk)
    mine, elsewhere, *running = [claim_task(t.pk) for t in _open_tasks(pk)]
    assert len(running) == 14 and not _open_tasks(pk)  # nothing left for a backlog
    assert record_and_wake(elsewhere, attempt(elsewhere, default_registry))
    outcome = attempt(mine, default_registry)
    mine.attempt_seconds = 0.001  # quick: its thread may hold a group (16 open: 4)
    recorded, next_task = finish_task(mine, outcome, default_registry)
    assert recorded and next_task is not None
    # Two new items (for this result and the inbox's), both claimed for this thread.
    assert len(next_task.group) == 1
    assert not _open_tasks(pk)
    assert not InboxMessage.objects.filter(instance_id=pk).exists()  # applied by the round


def test_a_slow_activity_takes_no_waiting_task_along(durable_client):
    iid = durable_client.start("t_bounded_slow", {"count": 16, "parallel": 8, "sleep": 0.02})
    pk = instance(iid).pk
    merge._owing.clear()
    run_episode(pk)
    waiting = _open_tasks(pk)
    task = claim_task(waiting[0].pk)
    recorded, next_task = finish_task(task, attempt(task, default_registry), default_registry)
    assert recorded and next_task is not None and not next_task.group
    assert [t.pk for t in _open_tasks(pk)] == [t.pk for t in waiting[1:]]  # left to messages


# -- several worker processes: a fan-out's results stay with the process running it ------
def _fan_out_run_elsewhere(durable_client, parallel: int = 3):
    """A bounded fan-out whose first episode ran "in another process": this one does not
    cache it. Returns (instance pk, its open tasks claimed here)."""
    iid = durable_client.start("t_bounded_slow", {"count": 6, "parallel": parallel, "sleep": 0})
    pk = instance(iid).pk
    merge._owing.clear()
    run_episode(pk)
    sticky_cache().discard(pk)  # the other process's
    tasks = [claim_task(t.pk) for t in ActivityTask.objects.filter(instance_id=pk)]
    return pk, tasks


def _episodes(pk: int) -> int:
    return HistoryEvent.objects.filter(instance_id=pk, kind="orchestrator_started").count()


@pytest.mark.postgres
def test_a_quick_result_of_a_fan_out_run_elsewhere_goes_to_its_inbox(durable_client, monkeypatch):
    """The row changed moments ago: the owner's next round applies the result. This
    process runs no episode and does not start to cache the instance."""
    # "Moments" as long as this test may take on a loaded machine (0.1 s was not).
    monkeypatch.setattr(episodes, "OWNER_ACTIVE", timedelta(hours=1))
    pk, tasks = _fan_out_run_elsewhere(durable_client)
    outcome = attempt(tasks[0], default_registry)
    # Quick as the activity is when the machine is not loaded (it took 21 ms under a CI run).
    tasks[0].attempt_seconds = 0.0
    before = _episodes(pk)
    recorded, claimed = finish_task(tasks[0], outcome, default_registry)
    assert recorded and claimed is None
    assert ActivityTask.objects.get(pk=tasks[0].pk).status == "completed"
    assert InboxMessage.objects.filter(instance_id=pk, kind="activity_completed").count() == 1
    assert _episodes(pk) == before
    assert sticky_cache().activities_in_flight(pk) is None
    # The owner's wake-up, here too, waits for the owner while its row is busy with rounds.
    assert episodes.run_episode(pk, claim=False, wait=False) == (None, None)
    assert _episodes(pk) == before and InboxMessage.objects.filter(instance_id=pk).exists()


@pytest.mark.postgres
def test_a_result_of_a_quiet_fan_out_runs_its_episode_here(durable_client):
    """Once the row has been quiet for OWNER_ACTIVE (the owner stopped or is gone), the
    result merges with the next episode here, as any result of an unknown instance."""
    pk, tasks = _fan_out_run_elsewhere(durable_client)
    Instance.objects.filter(pk=pk).update(updated_at=timezone.now() - 2 * OWNER_ACTIVE)
    before = _episodes(pk)
    recorded, claimed = finish_task(tasks[0], attempt(tasks[0], default_registry), default_registry)
    assert recorded and claimed is not None  # the next item, for this thread
    assert _episodes(pk) == before + 1
    assert not InboxMessage.objects.filter(instance_id=pk).exists()


@pytest.mark.postgres
def test_a_slow_result_of_a_fan_out_run_elsewhere_runs_its_episode_here(durable_client):
    """Slow activities keep every process's threads on the fan-out: waiting for the
    owner's rounds made a 20 ms activity's fan-out ~40% slower."""
    pk, tasks = _fan_out_run_elsewhere(durable_client)
    outcome = attempt(tasks[0], default_registry)
    tasks[0].attempt_seconds = BACKLOG_MAX_SECONDS * 2
    before = _episodes(pk)
    recorded, claimed = finish_task(tasks[0], outcome, default_registry)
    assert recorded and claimed is not None
    assert _episodes(pk) == before + 1


@pytest.mark.postgres
def test_the_last_open_task_of_an_unknown_instance_runs_its_episode_here(durable_client):
    """No fan-out (one task open: a chain whose step came by message after a timer):
    the result merges with the next episode at once, however recently the row changed."""
    pk, tasks = _fan_out_run_elsewhere(durable_client, parallel=1)
    assert len(tasks) == 1
    before = _episodes(pk)
    recorded, claimed = finish_task(tasks[0], attempt(tasks[0], default_registry), default_registry)
    assert recorded and claimed is not None
    assert _episodes(pk) == before + 1
