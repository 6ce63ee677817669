"""Two task hubs on one database and one broker never see each other's work.

What shows it, without waiting to see that nothing happens: a message of the other hub
sent before a message that this hub's worker has already handled still waits in the
other hub's queue, and a sweeper pass of this hub, as if an hour later, touches nothing
of the other hub.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.brokers import hub_queues, waiting_messages
from tests.support.checks import (
    NOTHING,
    assert_history_valid,
    instance,
    other_hub,
    sweep_at,
    this_hub,
)
from workflows.client import DurableClient
from workflows.models import ActivityTask

pytestmark = pytest.mark.integration


def untouched(iid: str, hub: str) -> bool:
    inst = instance(iid, hub)
    return inst.status == "pending" and inst.history_length == 0


def wake_ups_waiting(hub: str) -> int:
    """Wake-ups in the hub's queues that no worker has taken (a start's is on the
    activity queue: its first episode runs the first activity too)."""
    return sum(waiting_messages(queue) for queue in hub_queues(hub)[:2])


def an_hour_later():
    return timezone.now() + timedelta(hours=1)


def test_this_hubs_worker_never_runs_another_hubs_instances(client, running_workers):
    other = DurableClient(hub=other_hub())
    theirs = other.start("t_chain", 3, instance_id="shared-id")
    ours = client.start("t_chain", 3, instance_id="shared-id")  # same id, other hub: allowed
    assert client.wait_for_completion(ours, timeout=120).output == 3
    # Sent before ours, still waiting: this hub's worker does not consume that queue.
    assert wake_ups_waiting(other_hub()) == 1
    assert sweep_at(this_hub(), an_hour_later()) == NOTHING
    assert untouched(theirs, other_hub())
    assert not ActivityTask.objects.filter(task_hub=other_hub()).exists()
    assert other.get_status(theirs).status == "pending"
    assert_history_valid(ours)


def test_worker_processes_of_two_hubs_each_run_only_their_own(
    client, real_broker, worker_process_factory
):
    other = DurableClient(hub=other_hub())
    other_worker = worker_process_factory(DURABLE_TASK_HUB=other_hub())
    ours = client.start("t_chain", 4)
    theirs = other.start("t_chain", 4)
    assert other.wait_for_completion(theirs, timeout=120).output == 6
    assert wake_ups_waiting(this_hub()) == 1, "the other hub's worker took this hub's wake-up"
    assert sweep_at(other_hub(), an_hour_later()) == NOTHING
    assert untouched(ours, this_hub()), "the other hub's worker ran an instance of this hub"
    other_worker.stop()

    worker_process_factory()  # this hub's worker
    assert client.wait_for_completion(ours, timeout=120).output == 6
    late = other.start("t_chain", 2)
    after = client.start("t_chain", 2)
    assert client.wait_for_completion(after, timeout=120).output == 1
    assert wake_ups_waiting(other_hub()) == 1, "this hub's worker took the other hub's wake-up"
    assert sweep_at(this_hub(), an_hour_later()) == NOTHING
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
