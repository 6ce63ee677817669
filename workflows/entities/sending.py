"""Queueing entity operations: from an episode (``effects``), from an entity's batch and
from outside (the client). Rows only; the wake-up goes after commit
(docs/architecture.md, "Entities").

Operations are applied in primary-key order, so the operations of one sender (each
sent in a transaction after the previous one committed, or in one transaction in
order) keep their order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from ..engine import actions as act
from ..engine.entities import CALL, LOCK, SIGNAL, UNLOCK, EntityId
from ..models import Instance
from .models import Entity, EntityOperation
from .wakeups import wake_entities


@dataclass(frozen=True)
class Queued:
    """One operation to queue for ``entity``."""

    entity: EntityId
    operation: str
    input: Any = None
    kind: str = SIGNAL
    sender: str = ""
    execution_id: str = ""
    task_id: int | None = None
    dedup_key: str | None = None


def entity_rows(hub: str, ids: Iterable[EntityId]) -> dict[EntityId, int]:
    """The primary keys of these entities, creating the rows that do not exist yet."""
    wanted = set(ids)
    if not wanted:
        return {}
    found = _existing(hub, wanted)
    missing = wanted - set(found)
    if missing:
        # ON CONFLICT DO NOTHING: two transactions creating one entity both go on.
        Entity.objects.bulk_create(
            [Entity(task_hub=hub, name=e.name, key=e.key) for e in sorted(missing)],
            ignore_conflicts=True,
        )
        found.update(_existing(hub, missing))
    return found


def _existing(hub: str, ids: set[EntityId]) -> dict[EntityId, int]:
    match = Q()
    for entity_id in ids:
        match |= Q(name=entity_id.name, key=entity_id.key)
    rows = Entity.objects.filter(match, task_hub=hub).values_list("pk", "name", "key")
    return {EntityId(name, key): pk for pk, name, key in rows}


def enqueue(hub: str, items: list[Queued], now: datetime) -> list[int]:
    """Insert the operations in the given order and wake their entities after commit;
    returns the entities' primary keys. A repeated ``dedup_key`` inserts nothing."""
    if not items:
        return []
    pks = entity_rows(hub, (item.entity for item in items))
    EntityOperation.objects.bulk_create(
        [
            EntityOperation(
                entity_id=pks[item.entity],
                kind=item.kind,
                operation=item.operation,
                input=item.input,
                sender=item.sender,
                execution_id=item.execution_id,
                task_id=item.task_id,
                dedup_key=item.dedup_key,
                created_at=now,
            )
            for item in items
        ],
        ignore_conflicts=any(item.dedup_key for item in items),
    )
    touched = sorted({pks[item.entity] for item in items})
    wake_entities(touched, hub)
    return touched


def _from_episode(instance: Instance, action: act.StepAction) -> list[Queued]:
    base = {
        "sender": instance.instance_id,
        "execution_id": instance.execution_id,
    }
    key = f"{instance.pk}:{instance.execution_id}:{action.task_id}"
    if isinstance(action, act.CallEntity | act.SignalEntity):
        kind = CALL if isinstance(action, act.CallEntity) else SIGNAL
        task_id = action.task_id if kind == CALL else None
        target = EntityId.of(action.entity)
        return [
            Queued(
                target, action.operation, action.input, kind, task_id=task_id, dedup_key=key, **base
            )
        ]
    if isinstance(action, act.LockEntity):
        target = EntityId.of(action.entity)
        return [Queued(target, LOCK, None, LOCK, task_id=action.task_id, dedup_key=key, **base)]
    assert isinstance(action, act.ReleaseLocks)
    return [
        Queued(EntityId.of(e), UNLOCK, None, UNLOCK, dedup_key=key, **base) for e in action.entities
    ]


def send_from_episode(instance: Instance, action: act.StepAction, now: datetime) -> None:
    """An episode's entity call, signal, lock request or release, in its transaction.

    The dedup key (instance, execution, step) makes a repeated send insert nothing.
    """
    enqueue(instance.task_hub, _from_episode(instance, action), now)


# The episode actions that become queued operations (effects' dispatch table).
ENTITY_ACTIONS = (act.CallEntity, act.SignalEntity, act.LockEntity, act.ReleaseLocks)
