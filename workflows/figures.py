"""The durable state of one task hub in figures: a handful of aggregate queries.

Plain data, read by ``/metrics`` (as Prometheus gauges, workflows/metrics.py) and by the
operators' dashboard, so both show the same numbers from the same queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, connections
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
    tasks_by_activity, fanned = _open_tasks(hub)
    fan_outs = _fan_outs(fanned)
    compensations = _compensations(hub)
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
        activities_waiting=sum(
            n for (_name, status), n in tasks_by_activity.items() if status == TaskStatus.SCHEDULED
        ),
        timers_due=Timer.objects.filter(  # timer_due_idx
            task_hub=hub, fired=False, fire_at__lte=now
        ).count(),
        fan_outs_in_flight=len(fan_outs),
        fan_out_done=sum(total - open_ for total, open_ in fan_outs),
        fan_out_open=sum(open_ for _total, open_ in fan_outs),
        compensations_by_status={
            status: sum(n for (_a, s), (n, _t) in compensations.items() if s == status)
            for status in CompensationStatus.values
        },
        compensation_attempts=_by_activity(
            (activity, tries) for (activity, _s), (_n, tries) in compensations.items()
        ),
        compensations_failed=_by_activity(
            (activity, n)
            for (activity, status), (n, _t) in compensations.items()
            if status == CompensationStatus.FAILED
        ),
        over_history_warning=_over_history_warning(instances),
    )


# Open tasks by (activity, status) and by instance in one read of the open tasks, on
# PostgreSQL: both groupings hash the same rows (30,000 open tasks in make bench-scale: ~4 ms
# more than the grouping by instance alone, where a second pass took 12-18 ms). Statuses as
# literals, so the partial index task_open_by_name_idx matches; by instance, only those
# with two or more open tasks (fan-out candidates).
_OPEN_TASKS_SQL = f"""
SELECT name, status, instance_id, count(*) FROM {ActivityTask._meta.db_table}
WHERE task_hub = %s AND status IN ({", ".join(f"'{s}'" for s in OPEN)})
GROUP BY GROUPING SETS ((name, status), (instance_id))
HAVING GROUPING(instance_id) = 1 OR count(*) >= 2
"""


def _open_tasks(hub: str) -> tuple[dict[tuple[str, str], int], list[int]]:
    """Open tasks per (activity, status), and the instances with two or more open tasks."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_OPEN_TASKS_SQL, [hub])
            rows = cursor.fetchall()
        by_activity = {(name, status): n for name, status, pk, n in rows if pk is None}
        return by_activity, [pk for _name, _status, pk, _n in rows if pk is not None]
    open_tasks = ActivityTask.objects.filter(task_hub=hub).open().order_by()
    by_activity = {
        (name, status): n
        for name, status, n in open_tasks.values_list("name", "status")
        .annotate(n=Count("pk"))
        .values_list("name", "status", "n")
    }
    fanned = (
        open_tasks.values("instance_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=2)
        .values_list("instance_id", flat=True)
    )
    return by_activity, list(fanned)


def _fan_outs(candidates: list[int]) -> list[tuple[int, int]]:
    """(tasks, open tasks) of the current execution of each running instance with two or
    more open tasks. ``candidates``: the instances with two or more open tasks, found from
    the open tasks (few, whatever the size of the table, _open_tasks); only those are then
    joined to their instance (running, current execution) and their finished tasks counted."""
    if not candidates:
        return []
    current = ActivityTask.objects.filter(
        instance__status=InstanceStatus.RUNNING, execution_id=F("instance__execution_id")
    ).order_by()
    open_by_instance = dict(
        current.filter(instance_id__in=candidates, status__in=OPEN)
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


def _compensations(hub: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(activity, status) -> (compensations, attempts): every compensation figure, one query."""
    rows = (
        CompensationRecord.objects.filter(instance__task_hub=hub)
        .order_by()
        .values_list("activity", "status")
        .annotate(n=Count("pk"), tries=Sum("attempts"))
        .values_list("activity", "status", "n", "tries")
    )
    return {(activity, status): (n, tries or 0) for activity, status, n, tries in rows}


def _by_activity(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for activity, n in pairs:
        found[activity] = found.get(activity, 0) + n
    return found


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
