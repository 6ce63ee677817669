"""Applying an entity's queued operations: one batch, one transaction
(docs/architecture.md, "Entities").

Under the entity's row lock (``FOR NO KEY UPDATE SKIP LOCKED`` on PostgreSQL, so a
duplicate wake-up leaves at once and inserts of new operations are not blocked), read
the queued operations in order, apply them (``engine/entities.run_batch``: pure, the
same as ``WorkflowTestRunner``), then in the same transaction save the state once,
answer callers through their inboxes, queue outgoing signals, start orchestrations,
log and delete the applied operations. A crash before the commit changes nothing:
the operations are still queued, and each is applied exactly once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..conf import conf
from ..engine import default_registry
from ..engine import events as ev
from ..engine.entities import BatchResult, EntityId, Operation, OrchestrationStart, run_batch
from ..engine.registry import Registry
from ..inbox import create_instance
from ..models import InboxMessage, Instance
from ..runtime.dispatch import wake_orchestration
from ..statuses import ACTIVE
from ..tracing import traced_entity_batch
from .models import LOG_KEEP, Entity, EntityOperation, EntityOperationLog
from .sending import Queued, enqueue
from .wakeups import wake_entities

log = logging.getLogger("workflows.runtime")

BATCH_SIZE = 500  # operations per transaction at most


@dataclass(frozen=True)
class BatchReport:
    applied: int = 0
    deferred: int = 0
    more: bool = False  # a full batch: the entity is woken again
    deferred_pks: tuple[int, ...] = ()


def run_entity(entity_pk: int, hub: str, registry: Registry | None = None) -> BatchReport:
    """Apply the next batch of entity ``entity_pk``; a duplicate or busy wake-up does nothing.

    Example::

        run_entity(entity.pk, "default")
    """
    registry = registry or default_registry
    with transaction.atomic():
        rows = Entity.objects.filter(pk=entity_pk, task_hub=hub)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(no_key=True, skip_locked=True)
        entity = rows.first()
        if entity is None:
            return BatchReport()  # purged, or another thread applies its batch right now
        queued = list(EntityOperation.objects.filter(entity=entity).order_by("pk")[:BATCH_SIZE])
        if not queued:
            return BatchReport()
        report = _apply(entity, queued, registry)
    waiting = EntityOperation.objects.filter(entity_id=entity_pk)
    # An operation committed while this batch ran had its wake-up skipped (the row was
    # held): look once more after the commit. Deferred ones wait for the lock holder.
    if report.more or waiting.exclude(pk__in=report.deferred_pks).exists():
        send_again(entity_pk, hub)
    return report


def send_again(entity_pk: int, hub: str) -> None:
    with transaction.atomic():
        wake_entities([entity_pk], hub)


@traced_entity_batch  # a span per batch when OpenTelemetry is on (workflows/tracing.py)
def _apply(entity: Entity, queued: list[EntityOperation], registry: Registry) -> BatchReport:
    hub = entity.task_hub
    now = timezone.now()
    entity_id = EntityId(entity.name, entity.key)
    holder = entity.lock_holder or None
    others_wait = holder is not None and any(row.sender != holder for row in queued)
    if others_wait and not _alive(hub, holder):
        holder = None  # the holder ended (terminated) without releasing: free it
    definition = registry.get_entity(entity.name) if registry.has_entity(entity.name) else None
    operations = [
        Operation(r.operation, r.input, r.kind, r.sender, r.execution_id, r.task_id, ref=r)
        for r in queued
    ]
    result = run_batch(
        definition,
        entity_id,
        entity.exists,
        entity.state,
        holder,
        operations,
        conf.MAX_PAYLOAD_BYTES,
    )
    if not result.applied:
        if holder != (entity.lock_holder or None):
            entity.lock_holder = ""
            entity.save(update_fields=["lock_holder", "updated_at"])
        return BatchReport(deferred=len(result.deferred), deferred_pks=_pks(result.deferred))
    entity.exists = result.exists
    entity.state = result.state
    entity.lock_holder = result.lock_holder or ""
    entity.version += 1
    entity.operations_applied += len(result.applied)
    entity.last_operation_at = now
    entity.save(
        update_fields=[
            "exists",
            "state",
            "lock_holder",
            "version",
            "operations_applied",
            "last_operation_at",
            "updated_at",
        ]
    )
    _answer(hub, result)
    _send_out(hub, entity_id, result, now)
    _log(entity, result, now)
    EntityOperation.objects.filter(pk__in=[o.operation.ref.pk for o in result.applied]).delete()
    more = len(queued) == BATCH_SIZE and result.lock_holder is None
    return BatchReport(len(result.applied), len(result.deferred), more, _pks(result.deferred))


def _pks(operations: list[Operation]) -> tuple[int, ...]:
    return tuple(op.ref.pk for op in operations)


def _alive(hub: str, instance_id: str | None) -> bool:
    return Instance.objects.filter(
        task_hub=hub, instance_id=instance_id, status__in=ACTIVE
    ).exists()


def _answer(hub: str, result: BatchResult) -> None:
    """Call results and lock grants to the callers' inboxes (one INSERT)."""
    responses = result.responses
    if not responses:
        return
    senders = {o.operation.sender for o, _ in responses}
    instances = {
        iid: (pk, execution)
        for pk, iid, execution in Instance.objects.filter(
            task_hub=hub, instance_id__in=senders, status__in=ACTIVE
        ).values_list("pk", "instance_id", "execution_id")
    }
    messages = []
    woken = set()
    for outcome, event in responses:
        op = outcome.operation
        found = instances.get(op.sender)
        if found is None or found[1] != op.execution_id:
            continue  # the caller ended or moved on: nobody waits for this answer
        messages.append(
            InboxMessage(
                instance_id=found[0],
                execution_id=op.execution_id,
                kind=event.kind.value,
                payload=ev.event_to_payload(event),
                dedup_key=f"entity:{op.execution_id}:{op.task_id}",
            )
        )
        woken.add(found[0])
    InboxMessage.objects.bulk_create(messages, ignore_conflicts=True)
    for pk in sorted(woken):
        wake_orchestration(pk, hub)


def _send_out(hub: str, entity_id: EntityId, result: BatchResult, now: datetime) -> None:
    sender = str(entity_id)
    enqueue(
        hub,
        [Queued(s.entity, s.operation, s.input, sender=sender) for s in result.signals],
        now,
    )
    for start in result.starts:
        _start(hub, start)


def _start(hub: str, start: OrchestrationStart) -> None:
    registry = default_registry
    if not registry.has_orchestrator(start.name):
        log.warning("entity start of unknown orchestrator %r skipped", start.name)
        return
    definition = registry.get_orchestrator(start.name)
    instance_id = start.instance_id or uuid.uuid4().hex
    try:
        with transaction.atomic():
            create_instance(
                hub=hub,
                instance_id=instance_id,
                name=definition.name,
                version=definition.version,
                input=start.input,
            )
    except IntegrityError:
        log.info("entity start %s skipped: the instance id is in use", instance_id)


def _log(entity: Entity, result: BatchResult, now: datetime) -> None:
    EntityOperationLog.objects.bulk_create(
        [
            EntityOperationLog(
                entity=entity,
                kind=o.operation.kind,
                operation=o.operation.operation,
                sender=o.operation.sender,
                dedup_key=o.operation.ref.dedup_key,
                ok=o.ok,
                error=o.failure.summary() if o.failure is not None else "",
                applied_at=now,
            )
            for o in result.applied
        ]
    )
    oldest_kept = (
        EntityOperationLog.objects.filter(entity=entity)
        .order_by("-pk")
        .values_list("pk", flat=True)[LOG_KEEP - 1 : LOG_KEEP]
    )
    cutoff = list(oldest_kept)
    if cutoff:
        EntityOperationLog.objects.filter(entity=entity, pk__lt=cutoff[0]).delete()
