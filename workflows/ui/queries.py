"""Read-only queries the pages need and DurableClient does not offer (yet).

Display only: nothing here changes state, every change goes through DurableClient.
Each function is a candidate for the client (listed in the UI hand-over notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.db.models import Q

from workflows.figures import hub_figures, status_counts
from workflows.metrics import figure_families
from workflows.models import ActivityTask, ApprovalRequest, AuditEntry, Instance, Timer
from workflows.statuses import ACTIVE, ApprovalStatus, InstanceStatus

from . import outcome_rollup

Gauges = dict[str, dict[tuple[str, ...], float]]


class About(int):
    """A count that is the planner's estimate (workflows.figures.status_counts): an int for
    sums and comparisons, shown as "≈ 9,610,000" (three significant figures)."""

    def __str__(self) -> str:
        rounded = round(int(self), 3 - len(str(int(self))))
        return f"≈ {rounded:,}"


def counts_by_status(hub: str) -> dict[str, int]:
    """Instances per status (every status present, zeros included); a status with more
    than ``figures.EXACT_UP_TO`` instances is an :class:`About`, not counted row by row.

    Example::

        counts_by_status("default")  # {"running": 12, "completed": About(9612345), ...}
    """
    counts, estimated = status_counts(hub)
    return {s: About(n) if s in estimated else n for s, n in counts.items()}


def attention_count(hub: str) -> int:
    """Instances needing attention (the partial index inst_attention_idx holds only them)."""
    return Instance.objects.filter(task_hub=hub, needs_attention=True).count()


@dataclass(frozen=True)
class Waiting:
    """An active instance and what it waits on, for the console's oldest-first table."""

    instance_id: str
    name: str
    status: str
    business_key: str
    created_at: datetime
    updated_at: datetime  # the last change: the wait started then
    waiting_on: list[str]


def longest_waiting(hub: str, limit: int = 10) -> list[Waiting]:
    """Active instances, the one unchanged for the longest first."""
    rows = list(
        Instance.objects.filter(  # inst_active_updated_idx
            task_hub=hub, status__in=ACTIVE
        ).order_by("updated_at", "pk")[:limit]
    )
    on = _waiting_on([r.pk for r in rows])
    return [
        Waiting(
            r.instance_id,
            r.name,
            r.status,
            r.business_key,
            r.created_at,
            r.updated_at,
            on[r.pk] or [_otherwise(r)],
        )
        for r in rows
    ]


def _otherwise(instance: Instance) -> str:
    """What an active instance with no open task, timer, request or child waits on."""
    if instance.needs_attention:
        return "a person (needs attention)"
    if instance.status == InstanceStatus.SUSPENDED:
        return "resume (suspended)"
    if instance.status == InstanceStatus.PENDING:
        return "its first episode"
    return "an external event"


def _waiting_on(pks: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {pk: [] for pk in pks}
    approvals = ApprovalRequest.objects.filter(
        instance_id__in=pks, status=ApprovalStatus.PENDING
    ).values_list("instance_id", "name", "assignees")
    for pk, name, group in approvals:
        found[pk].append(f"approval {name} ({group})")
    tasks = (
        ActivityTask.objects.filter(instance_id__in=pks).open().values_list("instance_id", "name")
    )
    for pk, name in tasks:
        found[pk].append(f"activity {name}")
    kids = Instance.objects.filter(parent_id__in=pks, status__in=ACTIVE).values_list(
        "parent_id", "name", "instance_id"
    )
    for pk, name, child_id in kids:
        found[pk].append(f"sub-orchestration {name} ({child_id})")
    timers = Timer.objects.filter(instance_id__in=pks, fired=False).values_list(
        "instance_id", "purpose", "fire_at"
    )
    for pk, purpose, fire_at in timers:
        if purpose != "approval_deadline":  # already said by the approval
            found[pk].append(f"{purpose.replace('_', ' ')} until {fire_at:%Y-%m-%d %H:%M} UTC")
    return found


def activities_in_flight(hub: str, instance_id: str) -> list[ActivityTask]:
    """Scheduled and running activity tasks of the instance's current execution."""
    instance = Instance.objects.filter(task_hub=hub, instance_id=instance_id).first()
    if instance is None:
        return []
    return list(
        ActivityTask.objects.filter(instance=instance, execution_id=instance.execution_id)
        .open()
        .order_by("task_id")
    )


def children(hub: str, instance_id: str) -> list[Instance]:
    """Sub-orchestrations started by the instance."""
    return list(
        Instance.objects.filter(  # the parent through uniq_hub_instance: no scan of the table
            task_hub=hub, parent__task_hub=hub, parent__instance_id=instance_id
        ).order_by("pk")
    )


def audit_entries(hub: str, instance_id: str, limit: int = 100) -> list[AuditEntry]:
    """Operator and approver actions on the instance, newest first."""
    return list(
        AuditEntry.objects.filter(
            Q(instance__task_hub=hub, instance__instance_id=instance_id)
            | Q(instance__isnull=True, instance_ref=instance_id)
        )
        .select_related("user")
        .order_by("-created_at", "-pk")[:limit]
    )


# -- the dashboard ---------------------------------------------------------------------
def gauges(hub: str) -> Gauges:
    """The database gauges of ``/metrics``, by sample name and label values.

    ``gauges(hub)["durable_queue_depth"][("inbox",)]`` -> ``3.0``. The dashboard shows the
    same figures Prometheus scrapes, from the same queries (workflows/figures.py).
    """
    found: Gauges = {}
    for family in figure_families(hub_figures(hub)):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sample.labels.values())] = sample.value
    return found


@dataclass(frozen=True)
class Outcomes:
    """Instances that finished in one hour or day (``start`` is the bucket's first moment)."""

    start: datetime
    completed: int
    failed: int

    @property
    def counts(self) -> tuple[int, int]:
        return self.completed, self.failed


def outcomes(hub: str, unit: Literal["hour", "day"], count: int) -> list[Outcomes]:
    """Completed and failed instances per hour or day, the last ``count`` buckets, oldest
    first, empty buckets included (the current one is still filling). Closed buckets come
    from a rollup, only open ones are counted (workflows/ui/outcome_rollup.py).

    Example::

        outcomes("default", "day", 14)[-1]  # Outcomes(start=today 00:00, completed=9, failed=1)
    """
    return [Outcomes(*bucket) for bucket in outcome_rollup.outcome_counts(hub, unit, count)]


def largest_histories(hub: str, limit: int = 10) -> list[Instance]:
    """Active instances with the longest history of their current execution, longest first."""
    return list(
        Instance.objects.filter(  # inst_active_history_idx, read backwards
            task_hub=hub, status__in=ACTIVE, history_length__gt=0
        )
        .order_by("-history_length", "-pk")
        .only("instance_id", "name", "version", "status", "business_key", "history_length")[:limit]
    )
