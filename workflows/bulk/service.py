"""Creating, reviewing, cancelling and reading bulk operations (docs/architecture.md,
"Bulk operations"). Running them is ``chunks.py``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from ..engine.errors import InvalidInput, InvalidState
from ..models import (
    AuditEntry,
    BulkItem,
    BulkItemStatus,
    BulkOperation,
    BulkStatus,
    CompensationRecord,
    Instance,
)
from ..runtime.bulk_wakeups import wake_bulk
from .actions import (
    CHUNK_SIZE,
    INSTANCES,
    MAX_CHUNK_SIZE,
    MAX_TARGETS,
    SAMPLE_SIZE,
    BulkAction,
    BulkOperationNotFound,
    Request,
    compensations_matching,
    instances_matching,
)
from .chunks import stop
from .states import BulkOutcome, BulkState, actor_of, state_of

log = logging.getLogger("workflows.bulk")


def _selection(
    hub: str, action: BulkAction, spec: dict[str, Any] | None, ids: list[str] | None
) -> tuple[QuerySet[Any], list[str]]:
    """The matched rows (instances, or compensation records) and the listed ids that
    exist nowhere. Listed records are taken whatever their status: the single decision
    says why one that has not failed is skipped."""
    if action.target == INSTANCES:
        if spec is not None:
            return instances_matching(hub, spec), []
        qs = Instance.objects.filter(task_hub=hub, instance_id__in=ids)
        known = set(qs.values_list("instance_id", flat=True))
    else:
        if spec is not None:
            return compensations_matching(hub, spec), []
        qs = CompensationRecord.objects.filter(instance__task_hub=hub, pk__in=[int(i) for i in ids])
        known = {str(pk) for pk in qs.values_list("pk", flat=True)}
    return qs, [i for i in ids or [] if i not in known]


def _rows(action: BulkAction, qs: QuerySet[Any]) -> QuerySet[Any]:
    """(target, instance id, instance status) of each matched row, in primary-key order:
    the order chunks take them, so concurrent operations lock instances alike."""
    if action.target == INSTANCES:
        return qs.order_by("pk").values_list("instance_id", "instance_id", "status")
    return qs.order_by("pk").values_list("pk", "instance__instance_id", "instance__status")


# -- what the operator reviews ------------------------------------------------------------------


@dataclass(frozen=True)
class BulkPreview:
    """What an operation would change, computed without changing anything (a dry run)."""

    action: str
    matched: int  # targets found (listed ids that exist nowhere are not counted)
    allowed: int  # of those, how many are in a status the action applies to
    by_status: dict[str, int]  # matched targets by (their instance's) status
    unknown: list[str]  # listed ids that match nothing
    sample: list[dict[str, Any]]  # the first few targets


def preview(hub: str, request: Request) -> BulkPreview:
    """Count and sample what ``request`` selects now.

    Example::

        preview("default", check_request("rewind", {"status": "failed"})).matched  # -> 42
    """
    action = request.action
    qs, unknown = _selection(hub, action, request.filter, request.ids)
    status_field = "status" if action.target == INSTANCES else "instance__status"
    counts = {
        row[status_field]: row["n"] for row in qs.values(status_field).annotate(n=Count("pk"))
    }
    matched = sum(counts.values())
    if action.target == INSTANCES:
        fields = ("instance_id", "name", "status", "business_key")
        sample = [
            dict(zip(fields, row, strict=True))
            for row in qs.order_by("pk").values_list(*fields)[:SAMPLE_SIZE]
        ]
    else:
        fields = (
            "pk",
            "instance__instance_id",
            "instance__name",
            "instance__status",
            "step",
            "activity",
        )
        names = ("record_id", "instance_id", "name", "status", "step", "activity")
        sample = [
            dict(zip(names, row, strict=True))
            for row in qs.order_by("pk").values_list(*fields)[:SAMPLE_SIZE]
        ]
    allowed = sum(n for status, n in counts.items() if status in action.allowed)
    return BulkPreview(action.name, matched, allowed, counts, unknown, sample)


def count(hub: str, target: str, spec: dict[str, Any]) -> int:
    """How many instances (or failed compensations) a checked filter matches now, counted
    up to MAX_TARGETS + 1: more are refused anyway, and the console asks on every listing
    (an unfiltered count(*) over millions of instances took seconds)."""
    if target == INSTANCES:
        return instances_matching(hub, spec)[: MAX_TARGETS + 1].count()
    return compensations_matching(hub, spec)[: MAX_TARGETS + 1].count()


def create(
    hub: str,
    request: Request,
    *,
    reason: str,
    by: Any,
    parameters: dict[str, Any] | None = None,
    chunk_size: int | None = None,
    expected: int | None = None,
) -> BulkOperation:
    """Record the operation and its targets (one transaction), and wake a worker for it.

    ``by`` is a user or a text actor ("cli"); the caller checked permissions and
    ``reason``. ``expected``: refuse (InvalidState, nothing recorded) unless the filter
    still matches exactly that many, e.g. the count the operator confirmed.

    Example::

        request = check_request("purge", filter={"status": ["terminated"]})
        create("default", request, reason="INC-42 clean-up", by="cli").matched  # -> 10000
    """
    action = request.action
    size = CHUNK_SIZE if chunk_size is None else chunk_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_CHUNK_SIZE:
        raise InvalidInput(f"chunk_size must be a whole number from 1 to {MAX_CHUNK_SIZE}.")
    qs, unknown = _selection(hub, action, request.filter, request.ids)
    now = timezone.now()
    with transaction.atomic():
        operation = BulkOperation.objects.create(
            task_hub=hub,
            action=action.name,
            filter=request.filter,
            parameters=parameters or {},
            reason=reason,
            created_by=by if getattr(by, "pk", None) else None,
            actor=actor_of(by),
            chunk_size=size,
            woken_at=now,
        )
        matched = _insert_items(operation, action, qs, unknown, now)
        total = matched + len(unknown)
        if expected is not None and matched != expected:
            raise InvalidState(
                f"The selection now matches {matched} target(s), not the {expected} you "
                "reviewed (instances changed meanwhile). Review it again."
            )
        if total > MAX_TARGETS:
            raise InvalidInput(
                f"The selection matches {total} targets; one operation takes at most "
                f"{MAX_TARGETS}. Narrow the filter (e.g. by created_before) and run several."
            )
        operation.matched = total
        operation.skipped = len(unknown)
        if matched == 0:
            operation.status, operation.finished_at = BulkStatus.COMPLETED, now
        operation.save()
        AuditEntry.objects.create(
            user=operation.created_by,
            actor=operation.actor,
            action="bulk_operation",
            note=reason,
            detail={"bulk_operation": operation.pk, "action": action.name, "matched": total},
        )
        if matched:
            wake_bulk(operation.pk, hub)
    return operation


def _insert_items(
    operation: BulkOperation,
    action: BulkAction,
    qs: QuerySet[Any],
    unknown: list[str],
    now: datetime,
) -> int:
    """One item per matched target, read and written in slices (memory stays flat)."""
    matched, batch = 0, []
    for target, instance_id, _status in _rows(action, qs).iterator(chunk_size=2000):
        batch.append(BulkItem(operation=operation, target=str(target), instance_ref=instance_id))
        matched += 1
        if matched > MAX_TARGETS:
            return matched  # the caller refuses the whole operation
        if len(batch) == 2000:
            BulkItem.objects.bulk_create(batch, batch_size=500)
            batch = []
    what = "instance" if action.target == INSTANCES else "compensation record"
    batch += [
        BulkItem(
            operation=operation,
            target=target,
            instance_ref=target if action.target == INSTANCES else "",
            status=BulkItemStatus.SKIPPED,
            reason=f"No {what} {target!r} exists (in this task hub).",
            finished_at=now,
        )
        for target in unknown
    ]
    BulkItem.objects.bulk_create(batch, batch_size=500)
    return matched


# -- cancelling ----------------------------------------------------------------------------


def cancel(hub: str, pk: int, by: Any, reason: str = "") -> BulkOperation:
    """Stop a running operation: targets not reached yet are marked cancelled. Waits for
    a chunk in progress to commit (its targets are changed)."""
    with transaction.atomic():
        operation = BulkOperation.objects.select_for_update().filter(task_hub=hub, pk=pk).first()
        if operation is None:
            raise BulkOperationNotFound(pk)
        if operation.status != BulkStatus.RUNNING:
            raise InvalidState(
                f"Bulk operation {pk} is {operation.status}; only a running one can be cancelled."
            )
        stop(operation, actor_of(by), reason)
        AuditEntry.objects.create(
            user=by if getattr(by, "pk", None) else None,
            actor=actor_of(by),
            action="bulk_cancel",
            note=reason,
            detail={"bulk_operation": operation.pk, "cancelled": operation.cancelled},
        )
    return operation


def get(hub: str, pk: Any) -> BulkOperation:
    if isinstance(pk, bool) or not isinstance(pk, int) or not 0 < pk < 10**18:
        raise BulkOperationNotFound(pk)
    operation = BulkOperation.objects.filter(task_hub=hub, pk=pk).first()
    if operation is None:
        raise BulkOperationNotFound(pk)
    return operation


def outcomes(
    operation: BulkOperation, status: str | None, after: int, limit: int
) -> tuple[list[BulkOutcome], int | None]:
    """A page of outcomes in the order they are processed, after the item ``after``."""
    qs = operation.items.filter(pk__gt=after)
    if status:
        qs = qs.filter(status=status)
    rows = list(
        qs.order_by("pk").values_list(
            "pk", "target", "instance_ref", "status", "reason", "finished_at"
        )[: limit + 1]
    )
    found = [BulkOutcome(*row) for row in rows[:limit]]
    return found, (found[-1].id if len(rows) > limit else None)


def recent(hub: str, before: int | None, limit: int) -> tuple[list[BulkState], int | None]:
    """Operations newest first, ``limit`` a page, below the cursor ``before``."""
    qs = BulkOperation.objects.filter(task_hub=hub)
    if before:
        qs = qs.filter(pk__lt=before)
    rows = list(qs.order_by("-pk")[: limit + 1])
    found = [state_of(row) for row in rows[:limit]]
    return found, (found[-1].id if len(rows) > limit else None)
