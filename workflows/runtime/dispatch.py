"""Enqueue wake-ups after the transaction that made them necessary commits."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

log = logging.getLogger("workflows.runtime")


def _send(
    kind: str,
    pk: int,
    hub: str | None = None,
    queue: str | None = None,
    activity: str | None = None,
    delay_ms: int | None = None,
    batch: list[int] | None = None,
) -> None:
    from . import actors  # bound to the broker configured at start-up

    try:
        actor = actors.actor_for(kind, hub, queue)
        if activity is None and delay_ms is None and batch is None:
            actor.send(pk)
        else:  # a limited activity's wake-up (maybe after the time its rate needs), a batch
            kwargs = {"activity": activity} if activity else {"batch": batch} if batch else None
            actor.send_with_options(args=(pk,), kwargs=kwargs, delay=delay_ms)
    except Exception:  # noqa: BLE001 - the sweeper re-sends from database state
        log.warning("could not enqueue %s %s; the sweeper will retry", kind, pk, exc_info=True)


def _send_activity(pk: int, hub: str | None, name: str | None, delay_ms: int | None) -> None:
    from .. import limits

    queue = activity = None
    if limits.configured():
        if name is None:
            from ..models import ActivityTask

            name = ActivityTask.objects.filter(pk=pk).values_list("name", flat=True).first()
        routed = limits.limits_for(name) if name else limits.NO_LIMITS
        queue, activity = routed.queue, (name if routed.limited else None)
    _send("activity", pk, hub, queue, activity, delay_ms)


def batch_size(count: int) -> int:
    """How many of ``count`` new tasks of one episode share a message (1: no batching).

    Small fan-outs keep one message per task, so every worker thread can take one; a
    large one sends DURABLE_ACTIVITY_BATCH_SIZE tasks a message, so a trivial activity
    costs a fraction of a claim, a commit and a broker message. A batch that turns out
    slow gives its unstarted tasks back (runtime/batches.py).
    """
    limit = int(getattr(settings, "DURABLE_ACTIVITY_BATCH_SIZE", 1))
    return max(1, min(limit, count // SPREAD_BEFORE_BATCHING))


# Fewer tasks than this many messages' worth are never batched (one message each).
SPREAD_BEFORE_BATCHING = 32


def start_activities(task_pks: list[int], hub: str | None = None) -> None:
    """Run new unlimited tasks of the default queue once the current transaction commits,
    several to a message when there are many (see :func:`batch_size`)."""
    size = batch_size(len(task_pks))
    batches = [task_pks[i : i + size] for i in range(0, len(task_pks), size)]

    def send() -> None:
        for batch in batches:
            _send("activity", batch[0], hub, batch=batch if len(batch) > 1 else None)

    transaction.on_commit(send)


def send_later(kind: str, pk: int, hub: str | None, delay_ms: int) -> None:
    """Send a wake-up now (outside any transaction), to be delivered after ``delay_ms``."""
    _send(kind, pk, hub, delay_ms=delay_ms)


def wake_orchestration(instance_pk: int, hub: str | None = None) -> None:
    """Run an episode of the instance once the current transaction commits.

    ``hub`` is the instance's task hub (default: this process's); its queue gets the message.
    """
    transaction.on_commit(lambda: _send("orchestration", instance_pk, hub))


def start_activity(
    task_pk: int, hub: str | None = None, name: str | None = None, delay_ms: int | None = None
) -> None:
    """Run the activity task (of ``hub``) once the current transaction commits.

    The message goes to the activity's own queue if it has one (``name``: the task's
    activity, looked up when needed). For a limited activity it is a wake-up: the receiver
    starts whichever of its tasks is next, if a slot and the rate allow (workflows/limits.py).
    """
    transaction.on_commit(lambda: _send_activity(task_pk, hub, name, delay_ms))
