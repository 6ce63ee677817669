"""Crashes: a worker process killed with SIGKILL mid-run loses no workflow progress.

These need real worker processes on a real broker (RabbitMQ or Redis); the embedded
broker lives inside one process, so there is nothing to kill there.
"""

from __future__ import annotations

import pytest

from tests.support.checks import assert_history_valid, history, instance, wait_until
from workflows.models import ActivityTask

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_broker")]

# Expired leases are run again after this long (the default, 300 s, is for real work).
LEASE = {"DURABLE_ACTIVITY_LEASE_SECONDS": "2"}


def completed(inst) -> int:
    return ActivityTask.objects.filter(instance=inst, status="completed").count()


def running_on(process, inst) -> bool:
    """The process is in the middle of one of the instance's activities right now."""
    tag = f":{process.proc.pid}:"
    return ActivityTask.objects.filter(
        instance=inst, status="running", worker__contains=tag
    ).exists()


def test_a_worker_killed_mid_chain_loses_no_step(client, worker_process_factory):
    first = worker_process_factory(**LEASE)
    second = worker_process_factory(**LEASE)
    iid = client.start("t_slow_sum_chain", {"steps": 50, "sleep": 0.05})
    inst = instance(iid)
    wait_until(lambda: completed(inst) >= 10, what="ten steps")
    victim = wait_until(
        lambda: next((p for p in (first, second) if running_on(p, inst)), None),
        what="a worker in the middle of a step",
    )
    victim.kill()
    tag = f":{victim.proc.pid}:"
    cut_off = list(
        ActivityTask.objects.filter(instance=inst, status="running", worker__contains=tag)
    )
    survivor = second if victim is first else first
    assert client.get_status(iid).status == "running"
    worker_process_factory(**LEASE)  # a replacement comes up
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == 50
    results = [r.payload["result"] for r in history(iid) if r.kind == "activity_completed"]
    assert results == list(range(1, 51)), "every step's result, in order, once"
    tasks = ActivityTask.objects.filter(instance=inst)
    assert tasks.count() == 50 and completed(inst) == 50
    assert survivor.proc.poll() is None
    for task in cut_off:  # the step the kill interrupted ran again, elsewhere
        task.refresh_from_db()
        assert task.runs >= 2 and tag not in task.worker
    assert_history_valid(iid)


def test_a_worker_killed_mid_fan_out_loses_no_result(client, worker_process_factory):
    first = worker_process_factory(**LEASE)
    worker_process_factory(**LEASE)
    iid = client.start("t_wide_slow", {"count": 200, "sleep": 0.05})
    inst = instance(iid)
    wait_until(lambda: completed(inst) >= 40, what="forty results")
    wait_until(lambda: running_on(first, inst), what="the first worker to be busy")
    first.kill()
    assert completed(inst) < 200, "killed too late to matter"
    worker_process_factory(**LEASE)
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(range(1, 201))
    tasks = ActivityTask.objects.filter(instance=inst)
    assert tasks.count() == 200 and completed(inst) == 200
    rows = history(iid)
    assert sum(r.kind == "activity_completed" for r in rows) == 200
    assert sorted(r.payload["result"] for r in rows if r.kind == "activity_completed") == list(
        range(1, 201)
    )
    # the killed worker's own tasks were run again by another process
    rerun = tasks.filter(runs__gt=1)
    assert rerun.exists()
    assert all(f":{first.proc.pid}:" not in t.worker for t in rerun)
    assert_history_valid(iid)


def test_all_workers_killed_then_restarted_finish_the_work(client, worker_process_factory):
    workers = [worker_process_factory(**LEASE) for _ in range(2)]
    chain = client.start("t_slow_sum_chain", {"steps": 20, "sleep": 0.05})
    fan = client.start("t_wide_slow", {"count": 50, "sleep": 0.05})
    wait_until(lambda: completed(instance(chain)) >= 5, what="some progress")
    for process in workers:
        process.kill()
    worker_process_factory(**LEASE)
    assert client.wait_for_completion(chain, timeout=120).output == 20
    assert client.wait_for_completion(fan, timeout=120).output == sum(range(1, 51))
    assert_history_valid(chain)
    assert_history_valid(fan)
