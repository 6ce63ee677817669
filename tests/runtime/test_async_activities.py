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
from tests.support.workers import uses_real_broker
from workflows.models import ActivityTask
from workflows.samples.models import ServiceCall

pytestmark = pytest.mark.integration


@pytest.fixture
def async_worker(request, start_worker):
    """Start a worker that knows the async workflows; keyword arguments as start_worker's."""

    def start(threads: int = 1, **env: str):  # noqa: ANN202
        if uses_real_broker():
            env["DURABLE_WORKFLOW_MODULES"] = ASYNC_MODULES
        return start_worker(threads=threads, **env)

    return start


def most_at_once(tasks: list[ActivityTask]) -> int:
    """The largest number of the tasks' runs that overlapped in time."""
    edges = sorted(
        [(t.started_at, 1) for t in tasks] + [(t.finished_at, -1) for t in tasks],
        key=lambda edge: (edge[0], edge[1]),
    )
    running = peak = 0
    for _when, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_one_activity_thread_runs_many_async_activities_at_once(client, async_worker):
    async_worker(threads=1)
    iid = client.start("t_async_fan_out", {"activity": "t_async_nap", "count": 40, "sleep": 0.3})
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(range(40))
    tasks = list(ActivityTask.objects.filter(instance=instance(iid)))
    assert len(tasks) == 40 and {t.status for t in tasks} == {"completed"}
    # One thread running them one after another would have had one at a time.
    assert most_at_once(tasks) > 4
    assert_history_valid(iid)


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
