"""Entities from outside: signal, read, list, purge (``DurableClient`` calls these;
docs/architecture.md, "Entities")."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from ..conf import conf
from ..engine.entities import SIGNAL, EntityId
from ..engine.errors import (
    InstanceNotFound,
    InvalidInput,
    InvalidState,
    UnknownEntityError,
    WorkflowCodeError,
)
from ..engine.registry import Registry
from ..models import Instance
from ..rules import check_payload
from ..statuses import ACTIVE
from .models import Entity, EntityOperation, EntityOperationLog
from .sending import Queued, enqueue, entity_rows
from .states import AppliedOperation, EntityState, QueuedOperation

MAX_SIGNAL_ID = 200
SHOWN_QUEUED = 50
SHOWN_RECENT = 20


class EntityNotFound(InstanceNotFound):
    """No entity with that id in this task hub (HTTP 404)."""

    def __init__(self, entity: Any) -> None:
        self.entity = entity
        Exception.__init__(self, f"No entity {entity} exists (in this task hub).")


class EntityLocked(InvalidState):
    """The entity is locked by a running orchestration (HTTP 409)."""


def entity_id_of(value: Any) -> EntityId:
    """An ``EntityId`` from what a caller gave, or InvalidInput naming what is wrong."""
    try:
        return EntityId.of(value)
    except WorkflowCodeError as exc:
        raise InvalidInput(str(exc)) from None


def check_known(registry: Registry, entity_id: EntityId, operation: str | None) -> None:
    """InvalidInput (HTTP 400) for an entity or operation this code does not define."""
    try:
        registry.check_entity_call(entity_id.name, operation)
    except (UnknownEntityError, WorkflowCodeError) as exc:
        raise InvalidInput(str(exc)) from None


def signal(
    hub: str,
    registry: Registry,
    entity: Any,
    operation: str,
    input: Any = None,
    signal_id: str | None = None,
) -> bool:
    """Queue a one-way operation; False when ``signal_id`` was sent before (nothing new)."""
    entity_id = entity_id_of(entity)
    check_known(registry, entity_id, operation)
    check_payload(input, "entity signal input", conf.MAX_PAYLOAD_BYTES)
    if signal_id is not None and (
        not isinstance(signal_id, str) or not signal_id or len(signal_id) > MAX_SIGNAL_ID
    ):
        raise InvalidInput(f"signal_id must be text of 1 to {MAX_SIGNAL_ID} characters.")
    now = timezone.now()
    dedup_key = f"signal:{signal_id}" if signal_id else None
    with transaction.atomic():
        if dedup_key is not None:
            pk = entity_rows(hub, [entity_id])[entity_id]
            # The row lock orders this check after a batch that is applying it right now.
            Entity.objects.select_for_update(no_key=True).filter(pk=pk).first()
            if EntityOperationLog.objects.filter(entity_id=pk, dedup_key=dedup_key).exists():
                return False
            if EntityOperation.objects.filter(entity_id=pk, dedup_key=dedup_key).exists():
                return False
        item = Queued(entity_id, operation, input, SIGNAL, dedup_key=dedup_key)
        enqueue(hub, [item], now)
    return True


def _row(hub: str, entity_id: EntityId) -> Entity:
    row = Entity.objects.filter(task_hub=hub, name=entity_id.name, key=entity_id.key).first()
    if row is None:
        raise EntityNotFound(entity_id)
    return row


def get(hub: str, entity: Any) -> EntityState:
    entity_id = entity_id_of(entity)
    return state_of(_row(hub, entity_id), detail=True)


def state_of(row: Entity, detail: bool = False) -> EntityState:
    queued = recent = ()
    count = EntityOperation.objects.filter(entity=row).count()
    if detail:
        queued = tuple(
            QueuedOperation(q.operation, q.kind, q.sender, q.created_at, q.input)
            for q in EntityOperation.objects.filter(entity=row).order_by("pk")[:SHOWN_QUEUED]
        )
        recent = tuple(
            AppliedOperation(r.operation, r.kind, r.sender, r.ok, r.applied_at, r.error)
            for r in EntityOperationLog.objects.filter(entity=row).order_by("-pk")[:SHOWN_RECENT]
        )
    return EntityState(
        entity=str(row),
        name=row.name,
        key=row.key,
        exists=row.exists,
        state=row.state,
        version=row.version,
        lock_holder=row.lock_holder,
        queued_count=count,
        operations_applied=row.operations_applied,
        updated_at=row.updated_at,
        last_operation_at=row.last_operation_at,
        queued=queued,
        recent=recent,
    )


def listing(
    hub: str, name: str | None = None, key: str | None = None, limit: int = 100
) -> list[EntityState]:
    """Entities by name and key; ``key`` matches a part of the key."""
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput("limit must be a whole number from 1 to 1000.")
    for what, text in (("name", name), ("key", key)):
        if text is not None and (not isinstance(text, str) or "\x00" in text or len(text) > 200):
            raise InvalidInput(f"The {what} filter must be text of at most 200 characters.")
    rows = Entity.objects.filter(task_hub=hub)
    if name:
        rows = rows.filter(name=name)
    if key:
        rows = rows.filter(key__contains=key)
    return [state_of(row) for row in rows.order_by("name", "key")[:limit]]


def purge(hub: str, entity: Any) -> None:
    """Delete the entity with its state, queue and log; refused while a running
    orchestration holds its lock."""
    entity_id = entity_id_of(entity)
    with transaction.atomic():
        row = _row(hub, entity_id)
        row = Entity.objects.select_for_update(no_key=True).get(pk=row.pk)
        holder = row.lock_holder
        if (
            holder
            and Instance.objects.filter(
                task_hub=hub, instance_id=holder, status__in=ACTIVE
            ).exists()
        ):
            raise EntityLocked(
                f"Entity {entity_id} is locked by the running instance {holder!r}; "
                "purge it after that orchestration released its lock (or ended)."
            )
        row.delete()
