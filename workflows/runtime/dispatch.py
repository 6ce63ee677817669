"""Enqueue wake-ups after the transaction that made them necessary commits.

Messages are addressed by queue and actor name (workflows/runtime/queues.py): sending
needs the broker, not the actors, so nothing below the worker imports them. See
docs/architecture.md, "Messages".
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
from django.db import transaction

from ..conf import conf
from ..limits.config import NO_LIMITS, configured, limits_for
from ..models import ActivityTask
from .queues import ACTIVITY, ORCHESTRATION, START, actor_name, queue_name

log = logging.getLogger("workflows.runtime")

_declared: set[tuple[int, str]] = set()  # (broker id, queue) declared by this process
_declared_lock = threading.Lock()


def _declare(broker: dramatiq.Broker, queue: str) -> None:
    """Declare ``queue`` on the broker once (the embedded broker refuses unknown queues)."""
    key = (id(broker), queue)
    if key in _declared:
        return
    with _declared_lock:
        if queue not in broker.get_declared_queues():
            broker.declare_queue(queue)
        _declared.add(key)


def _send(
    kind: str,
    pk: int,
    hub: str | None = None,
    queue: str | None = None,
    activity: str | None = None,
    delay_ms: int | None = None,
    batch: list[int] | None = None,
) -> None:
    hub = hub or conf.TASK_HUB
    kwargs: dict[str, Any] = {}
    if activity:  # a limited activity's wake-up (maybe after the time its rate needs)
        kwargs["activity"] = activity
    elif batch:
        kwargs["batch"] = batch
    message = dramatiq.Message(
        queue_name=queue_name(kind, hub, queue),
        actor_name=actor_name(kind, hub, queue),
        args=(pk,),
        kwargs=kwargs,
        options={},
    )
    try:
        broker = dramatiq.get_broker()
        _declare(broker, message.queue_name)
        broker.enqueue(message, delay=delay_ms)
    except Exception:  # noqa: BLE001 - the sweeper re-sends from database state
        log.warning("could not enqueue %s %s; the sweeper will retry", kind, pk, exc_info=True)


def _send_activity(pk: int, hub: str | None, name: str | None, delay_ms: int | None) -> None:
    queue = activity = None
    if configured():
        if name is None:
            name = ActivityTask.objects.filter(pk=pk).values_list("name", flat=True).first()
        routed = limits_for(name) if name else NO_LIMITS
        queue, activity = routed.queue, (name if routed.limited else None)
    _send(ACTIVITY, pk, hub, queue, activity, delay_ms)


def batch_size(count: int) -> int:
    """How many of ``count`` new tasks of one episode share a message (1: no batching).

    Small fan-outs keep one message per task, so every worker thread can take one; a
    large one sends DURABLE_ACTIVITY_BATCH_SIZE tasks a message, so a trivial activity
    costs a fraction of a claim, a commit and a broker message. A batch that turns out
    slow gives its unstarted tasks back (runtime/batches.py).
    """
    return max(1, min(conf.ACTIVITY_BATCH_SIZE, count // SPREAD_BEFORE_BATCHING))


# Fewer tasks than this many messages' worth are never batched (one message each).
SPREAD_BEFORE_BATCHING = 32


def start_activities(task_pks: list[int], hub: str | None = None) -> None:
    """Run new unlimited tasks of the default queue once the current transaction commits,
    several to a message when there are many (see :func:`batch_size`)."""
    size = batch_size(len(task_pks))
    batches = [task_pks[i : i + size] for i in range(0, len(task_pks), size)]

    def send() -> None:
        for batch in batches:
            _send(ACTIVITY, batch[0], hub, batch=batch if len(batch) > 1 else None)

    transaction.on_commit(send)


# Per instance pk, when the latest retry this process sent for a busy episode is due
# (time.monotonic). Dramatiq delivers a delayed message no earlier than its due time.
_retry_due: dict[int, float] = {}
_retry_lock = threading.Lock()
# Past this many instances remembered, those whose retry is due are forgotten.
RETRIES_KEPT = 10_000


def retry_pending(instance_pk: int) -> bool:
    """Whether a retry this process sent (:func:`retry_when_free`) is still to come: a
    wake-up arriving meanwhile may be dropped, as that retry's episode applies its inbox
    message too. Dramatiq times delayed messages by the consumer's clock: on machines
    whose clocks disagree by more than the delay, a dropped wake-up can wait for the
    sweeper's lost wake-ups (docs/architecture.md, "Messages")."""
    with _retry_lock:
        return _retry_due.get(instance_pk, 0.0) > time.monotonic()


def retry_when_free(instance_pk: int, hub: str | None, delay_ms: int) -> bool:
    """Wake the instance again ``delay_ms`` from now (its row was busy), unless a retry
    this process sent is still to come; returns whether one was sent.

    A retry still to come runs its episode after now, so that episode applies every inbox
    message committed before now, this wake-up's included: a second retry would only find
    the inbox empty. A sub-orchestration fan-in sent one wake-up per child, and each that
    found the parent busy came back every 50 ms: after 500 children, some 370 wake-ups
    were still queued when the parent finished, and took the next workload's threads.

    Example: ``retry_when_free(instance.pk, "default", 50)`` after a busy ``run_episode``.
    """
    now = time.monotonic()
    with _retry_lock:
        if _retry_due.get(instance_pk, 0.0) > now:
            return False
        if len(_retry_due) >= RETRIES_KEPT:
            for pk in [pk for pk, due in _retry_due.items() if due <= now]:
                del _retry_due[pk]
        # Taken before the send, whose due time the broker counts from later: never later
        # than the message's.
        _retry_due[instance_pk] = now + delay_ms / 1000
    _send(ORCHESTRATION, instance_pk, hub, delay_ms=delay_ms)
    return True


def wake_orchestration(
    instance_pk: int, hub: str | None = None, delay_ms: int | None = None
) -> None:
    """Run an episode of the instance once the current transaction commits (``delay_ms``
    later, if given).

    ``hub`` is the instance's task hub (default: this process's); its queue gets the message.
    """
    transaction.on_commit(lambda: _send(ORCHESTRATION, instance_pk, hub, delay_ms=delay_ms))


def wake_new(instance_pk: int, hub: str | None = None) -> None:
    """Run a new instance's first episode once the current transaction commits, on an
    activity thread that goes on to run the first activity it schedules (one broker hop
    from start to the first activity's result, not two)."""
    transaction.on_commit(lambda: _send(START, instance_pk, hub))


def start_activity(
    task_pk: int, hub: str | None = None, name: str | None = None, delay_ms: int | None = None
) -> None:
    """Run the activity task (of ``hub``) once the current transaction commits.

    The message goes to the activity's own queue if it has one (``name``: the task's
    activity, looked up when needed). For a limited activity it is a wake-up: the receiver
    starts whichever of its tasks is next, if a slot and the rate allow (workflows/limits/).
    """
    transaction.on_commit(lambda: _send_activity(task_pk, hub, name, delay_ms))
