"""What limited activities are doing: running vs limit, waiting tasks, the oldest wait."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Count, Min, Q
from django.utils import timezone

from ..conf import conf
from ..models import ActivityTask
from ..statuses import TaskStatus
from .config import limited_names, limits_for


class LimitRow(NamedTuple):
    """One limited activity in the console and on /metrics."""

    activity: str
    max_concurrency: int | None
    running: int  # tasks holding a slot (running, lease live)
    rate_limit: str | None
    waiting: int  # scheduled tasks waiting for a slot or the rate
    oldest_wait_seconds: float  # 0 when none waits


def open_counts(hub: str, names: Iterable[str], now: datetime) -> dict[str, dict[str, Any]]:
    rows = (
        ActivityTask.objects.filter(  # task_open_by_name_idx
            task_hub=hub,
            name__in=list(names),
        )
        .open()
        .values("name")
        .annotate(
            running=Count("pk", filter=Q(status=TaskStatus.RUNNING, lease_expires_at__gt=now)),
            waiting=Count("pk", filter=Q(status=TaskStatus.SCHEDULED)),
            oldest=Min("enqueued_at", filter=Q(status=TaskStatus.SCHEDULED)),
        )
        .order_by()
    )
    return {row["name"]: row for row in rows}


def limits_report(hub: str | None = None) -> list[LimitRow]:
    """Per limited activity of ``hub``: running vs limit, waiting tasks, the oldest wait.

    Example::

        for row in limits_report():
            print(f"{row.activity}: {row.running}/{row.max_concurrency} running, "
                  f"{row.waiting} waiting (oldest {row.oldest_wait_seconds:.0f} s)")
    """
    hub = hub or conf.TASK_HUB
    names = sorted(limited_names())
    if not names:
        return []
    now = timezone.now()
    counts = open_counts(hub, names, now)
    report = []
    for name in names:
        limits, row = limits_for(name), counts.get(name, {})
        oldest = row.get("oldest")
        report.append(
            LimitRow(
                activity=name,
                max_concurrency=limits.max_concurrency,
                running=row.get("running", 0),
                rate_limit=limits.rate_limit,
                waiting=row.get("waiting", 0),
                oldest_wait_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            )
        )
    return report
