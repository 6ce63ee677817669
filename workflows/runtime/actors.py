"""Thin Dramatiq actors: they carry wake-ups; the database holds the state.

Dramatiq's Retries middleware is not installed: retrying is the engine's job.
"""

from __future__ import annotations

import threading

import dramatiq
from django.conf import settings


def queue_name(kind: str, hub: str, queue: str | None = None) -> str:
    """The queue of ``kind`` ("orchestration" or "activity") messages of a task hub.

    ``queue``: an activity's own queue (``@activity(queue=...)``, workflows/limits.py).
    """
    name = f"durable-{hub}-{'orchestrations' if kind == 'orchestration' else 'activities'}"
    return f"{name}-{queue}" if queue else name


HUB = settings.DURABLE_TASK_HUB
BUSY_RETRY_MS = 50
ORCHESTRATION_QUEUE = queue_name("orchestration", HUB)
ACTIVITY_QUEUE = queue_name("activity", HUB)


@dramatiq.actor(queue_name=ORCHESTRATION_QUEUE, actor_name=f"run_orchestration_{HUB}")
def run_orchestration(instance_pk: int) -> None:
    from ..store import run_episode_claiming
    from .activities import run_claimed

    # A wake-up never blocks a thread behind another episode of the same instance (a
    # fan-in sends many): it comes back shortly, when that episode has committed.
    ran, task = run_episode_claiming(instance_pk, hub=HUB, wait=False)
    if ran is None:
        from .dispatch import send_later

        send_later("orchestration", instance_pk, HUB, BUSY_RETRY_MS)
        return
    # The first activity the episode schedules runs in this thread (no broker hop).
    while task is not None:
        _done, task = run_claimed(task)


@dramatiq.actor(queue_name=ACTIVITY_QUEUE, actor_name=f"run_activity_{HUB}")
def run_activity(task_pk: int, activity: str | None = None, batch: list[int] | None = None) -> None:
    from .activities import execute_task
    from .batches import execute_batch

    if batch:  # several tasks of a large fan-out (task_pk is the first of them)
        execute_batch(batch, hub=HUB)
        return
    # ``activity``: a limited activity's wake-up (start its next waiting task, if allowed).
    execute_task(task_pk, hub=HUB, activity=activity)


_other_hubs: dict[tuple[str, str, str | None], dramatiq.Actor] = {}
_other_hubs_lock = threading.Lock()


def actor_for(kind: str, hub: str | None = None, queue: str | None = None) -> dramatiq.Actor:
    """The actor whose queue serves ``kind`` ("orchestration"/"activity") of ``hub``.

    A client of another hub (``DurableClient(hub="other")``) sends to that hub's queues;
    they are declared here on first use, and this process's worker never consumes them.
    ``queue`` names an activity's own queue; a worker consumes it when told (--queues).
    """
    if queue is None and (hub is None or hub == HUB):
        return run_orchestration if kind == "orchestration" else run_activity
    hub = hub or HUB
    with _other_hubs_lock:
        if (kind, hub, queue) not in _other_hubs:
            fn = run_orchestration.fn if kind == "orchestration" else run_activity.fn
            _other_hubs[kind, hub, queue] = dramatiq.actor(
                fn,
                queue_name=queue_name(kind, hub, queue),
                actor_name=f"run_{kind}_{hub}" + (f"__{queue}" if queue else ""),
            )
        return _other_hubs[kind, hub, queue]
