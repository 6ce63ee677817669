"""The sweeper's part of schedules: wake the driver when a schedule is due
(docs/architecture.md, "Schedules").

Each sweeper round (every worker, every ``DURABLE_SWEEP_INTERVAL_SECONDS``) asks the
database whether a schedule of the hub is due (one indexed EXISTS) and, if so, sends one
``run_schedules_<hub>`` message on the hub's orchestration queue; the actor
(``schedules/actor.py``, above the client) runs the driver. The message only wakes: a
duplicate finds nothing due (the claim is SKIP LOCKED and moves ``next_due_at``), a lost
one is sent again by the next round. It is also sent once per process when the code
declares schedules (``@orchestrator(schedule=...)``), so the driver writes them down.
"""

from __future__ import annotations

import logging
from datetime import datetime

import dramatiq

from ..engine import default_registry
from ..runtime.queues import ORCHESTRATION, actor_name, queue_name
from .models import Schedule

log = logging.getLogger("workflows.runtime")

SCHEDULES = "schedules"
_declared_seen: dict[str, str] = {}


def schedules_queue(hub: str) -> str:
    return queue_name(ORCHESTRATION, hub)


def schedules_actor_name(hub: str) -> str:
    """``run_schedules_<hub>``: the actor that runs the driver."""
    return actor_name(SCHEDULES, hub)


def send_now(hub: str) -> None:
    """Send the wake-up; a failed send is only logged (the next round sends again)."""
    message = dramatiq.Message(
        queue_name=schedules_queue(hub),
        actor_name=schedules_actor_name(hub),
        args=(),
        kwargs={},
        options={},
    )
    try:
        broker = dramatiq.get_broker()
        if message.queue_name not in broker.get_declared_queues():
            broker.declare_queue(message.queue_name)
        broker.enqueue(message)
    except Exception:  # noqa: BLE001 - the next sweeper round sends it again
        log.warning("could not wake the schedules driver of hub %s; the sweeper will retry", hub)


def wake_due(hub: str, now: datetime) -> int:
    """1 if the driver was woken (a schedule is due, or new declarations), else 0.

    Example::

        wake_due("default", timezone.now())
    """
    declared = repr(sorted(default_registry.declared_schedules().items()))
    fresh = bool(default_registry.declared_schedules()) and _declared_seen.get(hub) != declared
    _declared_seen[hub] = declared
    if not fresh and not Schedule.objects.due(hub, now).exists():
        return 0
    send_now(hub)
    return 1
