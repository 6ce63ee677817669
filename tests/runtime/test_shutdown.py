"""Leases renewed by live workers; SIGTERM lets running work finish, then hands it on.

Real `durable worker` processes on a real broker (RabbitMQ or Redis).
"""

from __future__ import annotations

import pytest

from tests.support.checks import instance, wait_until
from workflows.models import ActivityTask

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_broker")]


def running_on(process, inst) -> bool:
    return ActivityTask.objects.filter(
        instance=inst, status="running", worker__contains=f":{process.proc.pid}:"
    ).exists()


def test_a_live_worker_renews_the_lease_of_a_task_running_longer(client, worker_process_factory):
    # Lease 2 s, activity 5 s: without renewal the other worker's sweeper would take the
    # task over after 2 s and run it a second time.
    first = worker_process_factory(DURABLE_ACTIVITY_LEASE_SECONDS="2")
    iid = client.start("t_slow_chain", {"steps": 1, "sleep": 5})
    wait_until(lambda: running_on(first, instance(iid)), what="the step to start")
    worker_process_factory(DURABLE_ACTIVITY_LEASE_SECONDS="2")

    assert client.wait_for_completion(iid, timeout=60).status == "completed"
    (task,) = ActivityTask.objects.filter(instance=instance(iid))
    assert task.runs == 1
    assert f":{first.proc.pid}:" in task.worker


def test_sigterm_lets_a_running_activity_finish_and_exits_0(client, worker_process_factory):
    worker = worker_process_factory(DURABLE_SHUTDOWN_GRACE_SECONDS="30")
    iid = client.start("t_slow_chain", {"steps": 1, "sleep": 2})
    wait_until(lambda: running_on(worker, instance(iid)), what="the step to start")

    worker.stop()

    assert worker.proc.returncode == 0
    (task,) = ActivityTask.objects.filter(instance=instance(iid))
    assert task.status == "completed" and task.runs == 1


def test_after_the_grace_a_running_activity_goes_to_another_worker(client, worker_process_factory):
    leaving = worker_process_factory(DURABLE_SHUTDOWN_GRACE_SECONDS="1")
    iid = client.start("t_slow_chain", {"steps": 1, "sleep": 6})
    wait_until(lambda: running_on(leaving, instance(iid)), what="the step to start")

    leaving.stop()  # exits after the 1 s grace, long before the activity would end

    assert leaving.proc.returncode == 0
    (task,) = ActivityTask.objects.filter(instance=instance(iid))
    assert task.status == "scheduled" and task.lease_expires_at is None
    worker_process_factory()
    assert client.wait_for_completion(iid, timeout=60).status == "completed"
    task.refresh_from_db()
    assert task.runs == 2 and f":{leaving.proc.pid}:" not in task.worker


def test_a_rolling_restart_under_load_loses_nothing_and_runs_nothing_twice(
    client, worker_process_factory
):
    old = [worker_process_factory() for _ in range(2)]
    ids = [client.start("t_slow_chain", {"steps": 8, "sleep": 0.1}) for _ in range(12)]
    wait_until(
        lambda: ActivityTask.objects.filter(status="completed").count() >= 12,
        what="the load to be under way",
    )
    for process in old:  # one at a time, as a deploy does: a new one up, an old one down
        worker_process_factory()
        process.stop()
        assert process.proc.returncode == 0

    for iid in ids:
        assert client.wait_for_completion(iid, timeout=120).output == 8
    tasks = ActivityTask.objects.filter(instance__instance_id__in=ids)
    assert tasks.count() == 12 * 8
    assert sorted(set(tasks.values_list("runs", flat=True))) == [1]
