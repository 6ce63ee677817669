"""The Dramatiq actor that runs the schedules driver when the sweeper finds one due.

Imported by ``SchedulesConfig.ready()`` in every process (like ``bulk_actor``): it sits
above DurableClient, so the runtime below cannot import it; the sweeper addresses it by
name (``schedules/wakeups.py``).
"""

from __future__ import annotations

import dramatiq

from ..client import DurableClient
from ..conf import conf
from .wakeups import schedules_actor_name, schedules_queue

HUB = conf.TASK_HUB


@dramatiq.actor(queue_name=schedules_queue(HUB), actor_name=schedules_actor_name(HUB))
def run_schedules() -> None:
    """Advance every due schedule: the database says what is due, so a duplicate message
    finds nothing left to do."""
    DurableClient(hub=HUB).run_due_schedules()
