"""The durable state of one task hub in figures: a handful of aggregate queries.

Plain data, read by ``/metrics`` (as Prometheus gauges, workflows/metrics.py) and by the
operators' dashboard, so both show the same numbers from the same queries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connections
from django.db.models import Count, Exists, F, Min, OuterRef, QuerySet, Sum
from django.utils import timezone

from .conf import conf
from .models import ActivityTask, ApprovalRequest, CompensationRecord, InboxMessage, Instance, Timer
from .statuses import ACTIVE, OPEN, ApprovalStatus, CompensationStatus, InstanceStatus, TaskStatus


@dataclass(frozen=True)
class HubFigures:
    """One reading of a task hub (ages in seconds, 0 when nothing waits).

    Example::

        figures = hub_figures("default")
        print(figures.instances_by_status["running"], figures.inbox_depth)
    """

    instances_by_status: dict[str, int]  # every InstanceStatus, 0 included (see status_counts)
    needing_attention: int  # waiting on a person (failed compensation, replay mismatch)
    oldest_running_age: float  # oldest pending or running instance
    oldest_approval_wait: float  # oldest pending approval request
    oldest_external_event_wait: float  # running, waiting with nothing scheduled
    tasks_by_activity: dict[tuple[str, str], int]  # (activity, scheduled|running) -> count
    inbox_depth: int  # messages not yet applied (suspended instances excluded)
    activities_waiting: int  # scheduled tasks not yet started
    timers_due: int  # due but not yet fired
    fan_outs_in_flight: int  # running instances with two or more open activities
    fan_out_done: int  # finished tasks of those instances' current executions
    fan_out_open: int  # their open tasks
    compensations_by_status: dict[str, int]  # every CompensationStatus, 0 included
    compensation_attempts: dict[str, int]  # by compensation activity
    compensations_failed: dict[str, int]  # failed for good, by activity
    over_history_warning: int  # active instances at DURABLE_HISTORY_WARNING_EVENTS or more
    estimated_statuses: frozenset[str] = field(default_factory=frozenset)  # see status_counts


# A status with more instances than this is not counted row by row (the table may hold
# tens of millions of finished ones): its figure is the planner's estimate.
EXACT_UP_TO = 10_000


def status_counts(hub: str) -> tuple[dict[str, int], frozenset[str]]:
    """Instances of ``hub`` per status, and which of those figures are estimates.

    Each status is counted exactly up to :data:`EXACT_UP_TO` (an index-only scan of at most
    that many entries of ``inst_status_idx``); above, PostgreSQL's row estimate for the
    same query is taken (from the table statistics ANALYZE keeps), never below the bound.
    So a page or a scrape costs the same at a thousand instances or ten million.

    Example::

        counts, estimated = status_counts("default")
        print(counts["completed"], "about" if "completed" in estimated else "exactly")
    """
    instances = Instance.objects.filter(task_hub=hub)
    counts: dict[str, int] = {}
    estimated = set()
    for status in InstanceStatus.values:
        rows = instances.filter(status=status)
        # values("status"): the bounded count reads inst_status_idx alone (index-only)
        counts[status] = rows.values("status")[: EXACT_UP_TO + 1].count()
        if counts[status] > EXACT_UP_TO:
            counts[status] = max(EXACT_UP_TO + 1, _estimate(rows))
            estimated.add(status)
    return counts, frozenset(estimated)


def _estimate(rows: QuerySet) -> int:
    """The planner's row estimate of ``rows`` (an exact count where there is no planner
    estimate to read: SQLite)."""
    connection = connections[rows.db]
    if connection.vendor != "postgresql":
        return rows.count()
    sql, params = rows.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def hub_figures(hub: str) -> HubFigures:
    """Read the figures of ``hub`` now."""
    now = timezone.now()
    instances = Instance.objects.filter(task_hub=hub)

    def age(moment: datetime | None) -> float:
        return max(0.0, (now - moment).total_seconds()) if moment else 0.0

    by_status, estimated = status_counts(hub)
    open_tasks = ActivityTask.objects.filter(task_hub=hub).open()
    tasks_by_activity = {
        (name, status): n
        for name, status, n in open_tasks.order_by()
        .values_list("name", "status")
        .annotate(n=Count("pk"))
        .values_list("name", "status", "n")
    }
    fan_outs = _fan_outs(hub)
    compensations = CompensationRecord.objects.filter(instance__task_hub=hub).order_by()
    comp_by_status = _counts(compensations, "status")
    oldest_running = instances.filter(
        status__in=[InstanceStatus.PENDING, InstanceStatus.RUNNING]
    ).aggregate(m=Min("created_at"))["m"]
    oldest_approval = ApprovalRequest.objects.filter(
        instance__task_hub=hub, status=ApprovalStatus.PENDING
    ).aggregate(m=Min("created_at"))["m"]
    return HubFigures(
        instances_by_status=by_status,
        estimated_statuses=estimated,
        needing_attention=instances.filter(needs_attention=True).count(),
        oldest_running_age=age(oldest_running),
        oldest_approval_wait=age(oldest_approval),
        oldest_external_event_wait=age(_oldest_idle_wait(instances)),
        tasks_by_activity=tasks_by_activity,
        inbox_depth=InboxMessage.objects.filter(instance__task_hub=hub)
        .exclude(instance__status=InstanceStatus.SUSPENDED)
        .count(),
        activities_waiting=open_tasks.filter(status=TaskStatus.SCHEDULED).count(),
        timers_due=Timer.objects.filter(  # timer_due_idx
            task_hub=hub, fired=False, fire_at__lte=now
        ).count(),
        fan_outs_in_flight=len(fan_outs),
        fan_out_done=sum(total - open_ for total, open_ in fan_outs),
        fan_out_open=sum(open_ for _total, open_ in fan_outs),
        compensations_by_status={s: comp_by_status.get(s, 0) for s in CompensationStatus.values},
        compensation_attempts={
            name: attempts or 0
            for name, attempts in compensations.values_list("activity")
            .annotate(n=Sum("attempts"))
            .values_list("activity", "n")
        },
        compensations_failed=_counts(
            compensations.filter(status=CompensationStatus.FAILED), "activity"
        ),
        over_history_warning=_over_history_warning(instances),
    )


def _fan_outs(hub: str) -> list[tuple[int, int]]:
    """(tasks, open tasks) of the current execution of each running instance with two or
    more open tasks. Found from the open tasks (few, whatever the size of the table), then
    only those instances' finished tasks are counted."""
    current = ActivityTask.objects.filter(
        instance__status=InstanceStatus.RUNNING, execution_id=F("instance__execution_id")
    ).order_by()
    # Instances with two or more open tasks, from the open tasks' partial index alone; only
    # those are then joined to their instance (running, current execution).
    candidates = (
        ActivityTask.objects.filter(task_hub=hub, status__in=OPEN)
        .order_by()
        .values("instance_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=2)
        .values_list("instance_id", flat=True)
    )
    open_by_instance = dict(
        current.filter(instance_id__in=list(candidates), status__in=OPEN)
        .values("instance_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=2)
        .values_list("instance_id", "n")
    )
    if not open_by_instance:
        return []
    done = dict(
        current.filter(instance_id__in=list(open_by_instance))
        .exclude(status__in=OPEN)
        .values("instance_id")
        .annotate(n=Count("pk"))
        .values_list("instance_id", "n")
    )
    return [(n + done.get(pk, 0), n) for pk, n in open_by_instance.items()]


def _over_history_warning(instances: QuerySet[Instance]) -> int:
    threshold = conf.HISTORY_WARNING_EVENTS
    if threshold <= 0:  # the warning is off
        return 0
    return instances.filter(status__in=ACTIVE, history_length__gte=threshold).count()


def _counts(rows: QuerySet, field: str) -> dict[str, int]:
    return dict(rows.order_by().values_list(field).annotate(n=Count("pk")).values_list(field, "n"))


def _oldest_idle_wait(instances: QuerySet[Instance]) -> datetime | None:
    """Last change of the oldest running instance that waits with nothing scheduled."""
    pk = OuterRef("pk")
    idle = (
        instances.filter(status=InstanceStatus.RUNNING, history_length__gt=0)
        .exclude(Exists(InboxMessage.objects.filter(instance=pk)))
        .exclude(Exists(ActivityTask.objects.filter(instance=pk).open()))
        .exclude(Exists(Timer.objects.filter(instance=pk, fired=False)))
        .exclude(Exists(Instance.objects.filter(parent=pk, status__in=ACTIVE)))
        .exclude(Exists(ApprovalRequest.objects.filter(instance=pk, status=ApprovalStatus.PENDING)))
    )
    # The first in updated_at order (inst_active_updated_idx), not MIN over every running
    # instance: the scan stops at the first one that waits with nothing scheduled.
    return idle.order_by("updated_at").values_list("updated_at", flat=True).first()
