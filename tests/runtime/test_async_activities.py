"""``async def`` activities on the worker's event loop: many at once on one thread, the
same retries, timeouts, heartbeats and cancellation as plain ones, Django's async ORM
inside, and a crash mid-attempt loses nothing (the lease lapses, the sweeper re-runs it).

On the embedded broker the worker runs in this process; on a real broker in a process of
its own (DURABLE_WORKFLOW_MODULES adds tests/support/async_workflows.py).
"""

from __future__ import annotations

import pytest

from tests.support import async_workflows  # noqa: F401 - registers the workflows
from tests.support.async_workflows import ASYNC_MODULES
from tests.support.checks import assert_history_valid, instance, wait_until
from tests.support.episodes import run_episode
from tests.support.workers import uses_real_broker
from workflows.engine import default_registry
from workflows.models import ActivityTask
from workflows.runtime import activities
from workflows.runtime.activities import claim_tasks, execute_task, start_async_tasks
from workflows.runtime.eventloop import ActivityLoop
from workflows.samples.models import ServiceCall

pytestmark = [pytest.mark.integration, pytest.mark.one_real_broker]


@pytest.fixture
def async_worker(request, start_worker):
    """Start a worker that knows the async workflows; keyword arguments as start_worker's."""

    def start(threads: int = 1, **env: str):  # noqa: ANN202
        if uses_real_broker():
            env["DURABLE_WORKFLOW_MODULES"] = ASYNC_MODULES
        return start_worker(threads=threads, **env)

    return start


def test_one_activity_thread_runs_many_async_activities_at_once(client, async_worker, tmp_path):
    async_worker(threads=1)
    spec = {"count": 40, "together": 10, "dir": str(tmp_path)}
    iid = client.start("t_async_all_together", spec)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    # Each saw ten at once: one thread running them one after another would have had the
    # first see only itself.
    assert len(state.output) == 40 and min(state.output) >= 10
    tasks = list(ActivityTask.objects.filter(instance=instance(iid)))
    assert len(tasks) == 40 and {t.status for t in tasks} == {"completed"}
    assert_history_valid(iid)


@pytest.fixture
def small_loop(monkeypatch):
    """The runtime's event loop replaced by one of ``concurrency`` slots, closed after."""
    loops: list[ActivityLoop] = []

    def make(concurrency: int) -> ActivityLoop:
        loops.append(ActivityLoop(concurrency))
        monkeypatch.setattr(activities, "activity_loop", lambda: loops[-1])
        return loops[-1]

    yield make
    for loop in loops:
        loop.close()


def scheduled_tasks(client, count: int, sleep: float) -> list[ActivityTask]:
    spec = {"activity": "t_async_nap", "count": count, "sleep": sleep}
    iid = client.start("t_async_fan_out", spec)
    assert run_episode(instance(iid).pk)
    return list(ActivityTask.objects.filter(instance=instance(iid)).order_by("pk"))


def test_an_async_outcome_that_cannot_be_recorded_is_given_back(
    client, transactional_db, small_loop, monkeypatch
):
    # Not left to its lease: this process's lease keeper would renew it as long as the
    # claiming thread lives, and the task would stay RUNNING with nobody running it.
    loop = small_loop(4)
    (task,) = scheduled_tasks(client, 1, 0)

    def broken_settle(*_args: object) -> None:
        raise RuntimeError("recording failed")

    monkeypatch.setattr(activities, "settle", broken_settle)
    assert execute_task(task.pk) is False  # handed to the loop
    assert loop.drain(timeout=30) == 0
    task.refresh_from_db()
    assert (task.status, task.runs, task.worker, task.lease_expires_at) == (
        "scheduled",
        1,
        "",
        None,
    )

    monkeypatch.undo()
    monkeypatch.setattr(activities, "activity_loop", lambda: loop)
    execute_task(task.pk)  # its message, delivered again: it runs and is recorded
    assert loop.drain(timeout=30) == 0
    task.refresh_from_db()
    assert (task.status, task.runs, task.result) == ("completed", 2, 0)


def test_a_batch_hands_over_only_what_the_loop_has_room_for(client, transactional_db, small_loop):
    # The rest go back unstarted: claimed, they would wait for a slot while the sweeper
    # counts their start_to_close from the claim.
    small_loop(2)
    tasks = scheduled_tasks(client, 5, 3600)
    claimed = claim_tasks([task.pk for task in tasks])
    assert len(claimed) == 5

    assert start_async_tasks(claimed, default_registry) == []

    rows = {t.pk: t for t in ActivityTask.objects.filter(pk__in=[t.pk for t in tasks])}
    states = [(rows[t.pk].status, rows[t.pk].runs, rows[t.pk].started_at is None) for t in tasks]
    assert states == [("running", 1, False)] * 2 + [("scheduled", 0, True)] * 3


def test_async_and_plain_steps_alternate_in_a_chain(client, async_worker):
    async_worker(threads=2)
    iid = client.start("t_async_chain", 12)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(range(12))
    assert ActivityTask.objects.filter(instance=instance(iid), status="completed").count() == 12
    assert_history_valid(iid)


def test_a_failing_async_activity_is_retried_by_the_policy(client, async_worker):
    async_worker()
    iid = client.start("t_async_retry", {"succeed_on": 3, "max_attempts": 5})
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert state.output == 3
    attempts = ActivityTask.objects.filter(instance=instance(iid)).order_by("attempt")
    assert [(t.attempt, t.status) for t in attempts] == [
        (1, "failed"),
        (2, "failed"),
        (3, "completed"),
    ]
    assert attempts[0].failure["type"].endswith("ConnectionError")


def test_retries_run_out_and_the_failure_reaches_the_orchestrator(client, async_worker):
    async_worker()
    iid = client.start("t_async_retry", {"succeed_on": 9, "max_attempts": 2})
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "failed"
    assert "attempt 2 failed" in str(state.failure)


def test_an_async_activity_past_its_start_to_close_is_timed_out(client, async_worker):
    async_worker()
    iid = client.start("t_async_timeout", 30)
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert state.output.startswith("timed out: ") and "start_to_close" in state.output
    (task,) = ActivityTask.objects.filter(instance=instance(iid))
    assert task.status == "failed" and task.failure["type"].endswith("ActivityTimedOut")


def test_django_async_orm_works_inside_an_async_activity(client, async_worker):
    async_worker()
    iid = client.start("t_async_orm_twice", "order-7")
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert state.output == [1, 2]
    calls = ServiceCall.objects.filter(reference="order-7")
    assert sorted(c.executions for c in calls) == [1, 1]


def test_heartbeats_are_written_and_terminate_cancels_the_coroutine(client, async_worker, tmp_path):
    marker = tmp_path / "cancelled"
    async_worker(DURABLE_HEARTBEAT_INTERVAL_SECONDS="0")
    iid = client.start("t_async_beats", {"steps": 100_000, "marker": str(marker)})
    # Read in Python: a JSON lookup cannot see into an encrypted payload (codec mode).
    task = wait_until(
        lambda: next(
            (
                t
                for t in ActivityTask.objects.filter(instance=instance(iid), status="running")
                if (t.heartbeat_details or {}).get("done", 0) >= 3
            ),
            None,
        ),
        what="the activity to heartbeat",
    )
    assert task.heartbeat_at is not None

    client.terminate(iid, reason="test")
    wait_until(marker.exists, timeout=30, what="the coroutine to be cancelled")

    # Cancelled at an await or at the beat after the write that found it unwanted.
    assert marker.read_text() in {"CancelledError", "ActivityCancelled"}
    task.refresh_from_db()
    assert (task.status, task.result, task.failure) == ("cancelled", None, None)
    assert client.get_status(iid).status == "terminated"


@pytest.mark.usefixtures("real_broker")
def test_a_worker_killed_mid_attempt_loses_no_async_result(client, worker_process_factory):
    lease = {"DURABLE_ACTIVITY_LEASE_SECONDS": "2", "DURABLE_WORKFLOW_MODULES": ASYNC_MODULES}
    victim = worker_process_factory(threads=1, **lease)
    iid = client.start("t_async_fan_out", {"activity": "t_async_nap", "count": 20, "sleep": 3})
    inst = instance(iid)
    tag = f":{victim.proc.pid}:"
    wait_until(
        lambda: (
            ActivityTask.objects.filter(
                instance=inst, status="running", worker__contains=tag
            ).count()
            >= 10
        ),
        what="the worker to run the attempts at once",
    )
    victim.kill()
    cut_off = list(ActivityTask.objects.filter(instance=inst, status="running"))
    assert cut_off, "killed too late to matter"

    worker_process_factory(threads=1, **lease)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(range(20))
    for task in cut_off:  # the attempts the kill interrupted ran again, elsewhere
        task.refresh_from_db()
        assert task.status == "completed" and task.runs >= 2 and tag not in task.worker
    assert_history_valid(iid)


def test_an_async_activity_keeps_to_its_activity_limit(client, async_worker, tmp_path):
    # Eight on a loop with room for 100: the limit (max_concurrency=2), not the loop, bounds
    # them, as for a plain activity; all of them still run.
    async_worker(threads=2)
    iid = client.start("t_async_limited", {"count": 8, "dir": str(tmp_path)})
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert len(state.output) == 8
    assert max(state.output) <= 2, "more than the limit ran at once"
    tasks = ActivityTask.objects.filter(instance=instance(iid))
    assert {(t.runs, t.attempt) for t in tasks} == {(1, 1)}
