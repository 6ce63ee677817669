"""Thin Dramatiq actors: they carry wake-ups; the database holds the state.

Only the worker side imports this module (it binds actors to the broker configured at
start-up); senders address messages by name (workflows/runtime/dispatch.py). Dramatiq's
Retries middleware is not installed: retrying is the engine's job.
"""

from __future__ import annotations

import threading

import dramatiq

from ..conf import conf
from ..episodes import run_episode
from .activities import execute_task, run_chain
from .batches import execute_batch
from .dispatch import retry_pending, retry_when_free
from .leases import abandon_claims
from .queues import ACTIVITY, ORCHESTRATION, START, actor_name, queue_name

HUB = conf.TASK_HUB
BUSY_RETRY_MS = 50


@dramatiq.actor(
    queue_name=queue_name(ORCHESTRATION, HUB), actor_name=actor_name(ORCHESTRATION, HUB)
)
def run_orchestration(instance_pk: int) -> None:
    # A wake-up never blocks a thread behind another episode of the same instance (a
    # fan-in sends many): it comes back shortly, when that episode has committed. Nor
    # does an orchestration thread run activities: the episode's tasks go to the
    # activity threads, so a long activity never holds up another instance's episode.
    if retry_pending(instance_pk):
        return  # that retry's episode applies this wake-up's message too: no lock taken
    ran, _task = run_episode(instance_pk, hub=HUB, claim=False, wait=False)
    if ran is None:
        retry_when_free(instance_pk, HUB, BUSY_RETRY_MS)


@dramatiq.actor(queue_name=queue_name(ACTIVITY, HUB), actor_name=actor_name(ACTIVITY, HUB))
def run_activity(task_pk: int, activity: str | None = None, batch: list[int] | None = None) -> None:
    try:
        if batch:  # several tasks of a large fan-out (task_pk is the first of them)
            execute_batch(batch, hub=HUB)
            return
        # ``activity``: a limited activity's wake-up (start its next waiting task, if allowed).
        execute_task(task_pk, hub=HUB, activity=activity)
    except BaseException:
        # What this thread claimed and could not record (or give back) is run by nobody:
        # its leases must lapse so the sweeper schedules it again.
        abandon_claims()
        raise


@dramatiq.actor(queue_name=queue_name(ACTIVITY, HUB), actor_name=actor_name(START, HUB))
def run_start(instance_pk: int) -> None:
    # A new instance's first episode, on an activity thread: the activity it schedules
    # runs right here (claimed in the episode's commit), not after a second broker hop.
    try:
        ran, task = run_episode(instance_pk, hub=HUB, claim=True, wait=False)
        if ran is None:  # busy (an operator action): an orchestration thread retries it
            retry_when_free(instance_pk, HUB, BUSY_RETRY_MS)
        run_chain(task)
    except BaseException:
        abandon_claims()  # as in run_activity: the claimed task's lease must lapse
        raise


_own_queues: dict[str, dramatiq.Actor] = {}
_own_queues_lock = threading.Lock()


def activity_actor(queue: str | None = None) -> dramatiq.Actor:
    """The actor serving this hub's activities of ``queue`` (None: the default queue).

    An activity's own queue (``@activity(queue=...)``) gets its actor on first use, when a
    worker is told to serve it (--queues).
    """
    if queue is None:
        return run_activity
    with _own_queues_lock:
        if queue not in _own_queues:
            _own_queues[queue] = dramatiq.actor(
                run_activity.fn,
                queue_name=queue_name(ACTIVITY, HUB, queue),
                actor_name=actor_name(ACTIVITY, HUB, queue),
            )
        return _own_queues[queue]
