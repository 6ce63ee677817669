"""Running a bulk operation: one chunk of pending targets per transaction, each target
in a savepoint, outcomes and counts committed with the changes (docs/architecture.md,
"Bulk operations")."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from ..models import (
    AuditEntry,
    BulkItem,
    BulkItemStatus,
    BulkOperation,
    BulkStatus,
    Instance,
)
from ..rules import http_status
from ..runtime.bulk_wakeups import send_now, wake_bulk
from .actions import ACTIONS, RETRY_MS, BulkAction

log = logging.getLogger("workflows.bulk")

Apply = Callable[[BulkOperation, BulkItem], None]


@dataclass(frozen=True)
class ChunkResult:
    """What one call of :func:`run_chunk` did."""

    ran: bool  # False: nothing to do (finished, unknown, or another chunk holds it)
    processed: int = 0
    more: bool = False  # items still pending: another chunk follows


def _lock(pk: int) -> BulkOperation | None:
    qs = BulkOperation.objects.select_related("created_by").filter(pk=pk)
    if connection.features.has_select_for_update_skip_locked:
        # A chunk already running holds it: this wake-up is a duplicate, that chunk goes on.
        return qs.select_for_update(skip_locked=True, of=("self",)).first()
    return qs.select_for_update().first()


def run_chunk(
    pk: int, apply: Apply, refuse: Callable[[BulkOperation], str | None] | None = None
) -> ChunkResult:
    """Apply the action to the operation's next chunk of pending targets, in one
    transaction, and wake a worker for the chunk after it.

    ``apply(operation, item)`` changes one target (raising the single action's refusal);
    ``refuse(operation)`` may say why the operation must stop (its creator lost the
    permission): it is then cancelled. A deadlock or lock timeout rolls the chunk back
    and runs it again shortly.

    Example::

        result = run_chunk(operation.pk, lambda op, item: client.terminate(item.target))
        result.processed, result.more  # -> (100, True)
    """
    try:
        return _run_chunk(pk, apply, refuse)
    except OperationalError as exc:  # deadlock, lock or statement timeout: transient
        hub = BulkOperation.objects.filter(pk=pk).values_list("task_hub", flat=True).first()
        log.warning("bulk operation %s: chunk rolled back (%s); it runs again", pk, exc)
        if hub is not None:
            send_now(pk, hub, delay_ms=RETRY_MS)
        return ChunkResult(False)


def _run_chunk(
    pk: int, apply: Apply, refuse: Callable[[BulkOperation], str | None] | None
) -> ChunkResult:
    started = time.monotonic()
    with transaction.atomic():
        operation = _lock(pk)
        if operation is None or operation.status != BulkStatus.RUNNING:
            return ChunkResult(False)
        why = refuse(operation) if refuse is not None else None
        if why:
            stop(operation, "system", why)
            return ChunkResult(True)
        items = list(
            operation.items.filter(status=BulkItemStatus.PENDING)
            .order_by("pk")
            .select_for_update()[: operation.chunk_size]
        )
        action = ACTIONS[operation.action]
        since = AuditEntry.objects.aggregate(last=Max("pk"))["last"] or 0
        now = timezone.now()
        counts = dict.fromkeys(BulkItemStatus.values, 0)
        for item in items:
            item.status, item.reason = _apply_one(apply, operation, item)
            item.finished_at = now
            counts[item.status] += 1
        BulkItem.objects.bulk_update(items, ["status", "reason", "finished_at"])
        done = [item for item in items if item.status == BulkItemStatus.DONE]
        _audit(operation, action, done, since)
        more = operation.items.filter(status=BulkItemStatus.PENDING).exists()
        operation.done += counts[BulkItemStatus.DONE]
        operation.skipped += counts[BulkItemStatus.SKIPPED]
        operation.failed += counts[BulkItemStatus.FAILED]
        operation.chunks += 1
        took = int((time.monotonic() - started) * 1000)
        operation.longest_chunk_ms = max(operation.longest_chunk_ms, took)
        operation.woken_at = timezone.now()
        if not more:
            operation.status, operation.finished_at = BulkStatus.COMPLETED, operation.woken_at
        operation.save()
        if more:
            wake_bulk(operation.pk, operation.task_hub)
    return ChunkResult(True, len(items), more)


def _apply_one(apply: Apply, operation: BulkOperation, item: BulkItem) -> tuple[str, str]:
    """(status, reason) of one target; its changes live in a savepoint of the chunk."""
    try:
        with transaction.atomic():
            apply(operation, item)
    except OperationalError:
        raise  # transient: the whole chunk runs again
    except Exception as exc:  # noqa: BLE001 - one target's error never stops the others
        if http_status(exc) is not None:  # a refusal: the target does not allow it
            return BulkItemStatus.SKIPPED, str(exc)
        log.exception("bulk %s of %s failed", operation.action, item.target)
        return BulkItemStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    return BulkItemStatus.DONE, ""


def _audit(operation: BulkOperation, action: BulkAction, done: list[BulkItem], since: int) -> None:
    """Point each changed instance's audit entry at the operation.

    The single action wrote it in this transaction, after ``since``, and while holding
    the instance's row lock, so it is that instance's newest entry of that action. An
    action that writes no entry of its own (raise_event) gets one here.
    """
    refs = [item.instance_ref for item in done]
    if not refs:
        return
    if not action.audit:
        pks = dict(
            Instance.objects.filter(task_hub=operation.task_hub, instance_id__in=refs).values_list(
                "instance_id", "pk"
            )
        )
        AuditEntry.objects.bulk_create(
            AuditEntry(
                instance_id=pks.get(ref),
                instance_ref=ref,
                user=operation.created_by,
                actor=operation.actor,
                action=action.name,
                note=operation.reason,
                detail={"bulk_operation": operation.pk, **operation.parameters},
            )
            for ref in refs
        )
        return
    newest = (
        AuditEntry.objects.filter(pk__gt=since, action=action.audit, instance_ref__in=refs)
        .values("instance_ref")
        .annotate(last=Max("pk"))
        .values_list("last", flat=True)
    )
    entries = list(AuditEntry.objects.filter(pk__in=list(newest)))
    for entry in entries:
        entry.detail = {**(entry.detail or {}), "bulk_operation": operation.pk}
        entry.note = entry.note or operation.reason
    AuditEntry.objects.bulk_update(entries, ["detail", "note"])


def stop(operation: BulkOperation, who: str, reason: str) -> None:
    now = timezone.now()
    cancelled = operation.items.filter(status=BulkItemStatus.PENDING).update(
        status=BulkItemStatus.CANCELLED, reason=reason or f"cancelled by {who}", finished_at=now
    )
    operation.cancelled += cancelled
    operation.status = BulkStatus.CANCELLED
    operation.cancelled_by = who
    operation.finished_at = now
    operation.save()
