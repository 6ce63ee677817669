"""Why a pending instance has not started: how many pending ones are ahead of it, and
whether workers are at work at all (so the page says "a backlog" rather than "no worker").

Two indexed reads: pending instances created earlier, (hub, status, created_at); and a
sign of a live worker, a task under an unexpired lease (hub, status, lease_expires_at)
or an instance finished in the last minutes (hub, completed_at).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from workflows.models import ActivityTask, Instance
from workflows.statuses import InstanceStatus, TaskStatus

RECENT = timedelta(minutes=5)


@dataclass(frozen=True)
class Backlog:
    ahead: int  # pending instances of the hub created before this one
    workers_active: bool


def backlog_of(hub: str, state: Any) -> Backlog | None:
    """For a pending instance, its place in the queue; None for any other status.

    Example::

        backlog_of("default", state)  # Backlog(ahead=412, workers_active=True)
    """
    if state.status != InstanceStatus.PENDING:
        return None
    now = timezone.now()
    ahead = Instance.objects.filter(
        task_hub=hub, status=InstanceStatus.PENDING, created_at__lt=state.created_at
    ).count()
    leased = ActivityTask.objects.filter(
        task_hub=hub, status=TaskStatus.RUNNING, lease_expires_at__gt=now
    ).exists()
    active = leased or (
        Instance.objects.filter(task_hub=hub, completed_at__gte=now - RECENT).exists()
    )
    return Backlog(ahead, active)
