"""Episodes have their own threads: a long activity never holds up another instance.

The scenario of the issue: every activity thread is busy with a long activity, and a new
instance starts. Its first episode must still run (on an orchestration thread), not
wait for an activity thread to come free.
"""

from __future__ import annotations

import threading

import pytest

from tests.support.checks import instance, wait_until
from workflows.engine import activity, orchestrator
from workflows.models import ActivityTask

GATE = threading.Event()


@activity(name="t_pool_hold")
def hold(ctx, _):
    GATE.wait(60)  # a long call to an outside system, until the test lets it go
    return "held"


@orchestrator(name="t_pool_held")
def held(ctx, _):
    return (yield ctx.call_activity("t_pool_hold", None))


@pytest.fixture
def pools(transactional_db):
    from tests.support import workflows  # noqa: F401 - t_chain
    from workflows.runtime.cache import sticky_cache
    from workflows.runtime.worker import Worker

    GATE.clear()
    sticky_cache().clear()
    worker = Worker(threads=2, orchestration_threads=1)
    worker.start()
    yield worker
    GATE.set()
    worker.stop(grace=5)


def test_a_new_instance_runs_its_episode_while_every_activity_thread_is_busy(client, pools):
    holders = [client.start("t_pool_held", None) for _ in range(2)]
    wait_until(
        lambda: ActivityTask.objects.filter(name="t_pool_hold", status="running").count() == 2,
        what="both activity threads to hold an activity",
    )

    newcomer = client.start("t_chain", 2)

    # Its first episode ran (it scheduled its first step) although no activity thread is
    # free: with one pool for both, it would wait for a held activity to end.
    wait_until(
        lambda: instance(newcomer).history_length > 0,
        timeout=30,
        what="the newcomer's first episode",
    )
    assert client.get_status(newcomer).status == "running"
    assert all(client.get_status(h).status == "running" for h in holders)
    # ...and the orchestration thread did not run that step itself: it waits for an
    # activity thread, so episodes never wait behind activities on their own threads.
    (first_step,) = ActivityTask.objects.filter(instance=instance(newcomer))
    assert first_step.status == "scheduled"

    GATE.set()
    assert client.wait_for_completion(newcomer, timeout=60).output == 1  # 0 + 0, then 0 + 1
    for held_id in holders:
        assert client.wait_for_completion(held_id, timeout=60).output == "held"
