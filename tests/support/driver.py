"""Drive instances by hand, without any worker: episodes, activities and timers in turn.

Used where a test must control each step (duplicate deliveries, validation on finished
instances). Messages the runtime sends meanwhile simply wait in the broker.
"""

from __future__ import annotations

from django.utils import timezone

from tests.support.episodes import run_episode
from workflows.conf import conf
from workflows.models import ActivityTask, InboxMessage, Timer
from workflows.runtime.activities import execute_task
from workflows.runtime.sweeper import fire_due_timers


def step(hub: str | None = None) -> bool:
    """One round: every pending episode, then every scheduled activity. True if anything ran."""

    hub = hub or conf.TASK_HUB
    ran = False
    waiting = InboxMessage.objects.filter(instance__task_hub=hub)
    for pk in sorted(set(waiting.values_list("instance_id", flat=True))):
        ran |= run_episode(pk)
    for pk in ActivityTask.objects.filter(task_hub=hub, status="scheduled").values_list(
        "pk", flat=True
    ):
        ran |= execute_task(pk)
    ran |= fire_due_timers(hub, timezone.now()) > 0
    return ran


def drive(hub: str | None = None, rounds: int = 500) -> int:
    """Step until nothing is left to do now (timers not yet due stay); returns the rounds."""
    for n in range(rounds):
        if not step(hub):
            return n
    raise AssertionError(f"still busy after {rounds} rounds")


def pending_timers(hub: str | None = None) -> int:

    return Timer.objects.filter(task_hub=hub or conf.TASK_HUB, fired=False).count()
