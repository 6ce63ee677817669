"""Two task hubs on one database and one broker never see each other's work."""

from __future__ import annotations

import time

import pytest

from tests.support.checks import assert_history_valid, instance, other_hub, this_hub
from workflows.client import DurableClient
from workflows.models import ActivityTask

pytestmark = pytest.mark.integration


def untouched(iid: str, hub: str) -> bool:
    inst = instance(iid, hub)
    return inst.status == "pending" and inst.history_length == 0


def test_this_hubs_worker_never_runs_another_hubs_instances(client, running_workers):
    other = DurableClient(hub=other_hub())
    theirs = other.start("t_chain", 3, instance_id="shared-id")
    ours = client.start("t_chain", 3, instance_id="shared-id")  # same id, other hub: allowed
    assert client.wait_for_completion(ours, timeout=120).output == 3
    time.sleep(1.5)  # several sweeper rounds of this hub's worker
    assert untouched(theirs, other_hub())
    assert not ActivityTask.objects.filter(task_hub=other_hub()).exists()
    assert other.get_status(theirs).status == "pending"
    assert_history_valid(ours)


def test_worker_processes_of_two_hubs_each_run_only_their_own(
    client, real_broker, worker_process_factory
):
    other = DurableClient(hub=other_hub())
    other_worker = worker_process_factory(DURABLE_TASK_HUB=other_hub())
    theirs = other.start("t_chain", 4)
    ours = client.start("t_chain", 4)
    assert other.wait_for_completion(theirs, timeout=120).output == 6
    time.sleep(1.5)
    assert untouched(ours, this_hub()), "the other hub's worker ran an instance of this hub"
    other_worker.stop()

    worker_process_factory()  # this hub's worker
    assert client.wait_for_completion(ours, timeout=120).output == 6
    late = other.start("t_chain", 2)
    time.sleep(1.5)
    assert untouched(late, other_hub()), "this hub's worker ran an instance of the other hub"

    other_pid = f":{other_worker.proc.pid}:"
    ran = {
        hub: set(ActivityTask.objects.filter(task_hub=hub).values_list("worker", flat=True))
        for hub in (this_hub(), other_hub())
    }
    assert ran[other_hub()] and all(other_pid in w for w in ran[other_hub()])
    assert ran[this_hub()] and not any(other_pid in w for w in ran[this_hub()])
    assert_history_valid(ours)
    assert_history_valid(theirs, hub=other_hub())
