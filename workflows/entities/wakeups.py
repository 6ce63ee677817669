"""Wake-ups of entities: the message that runs an entity's next batch, and the sweeper's
re-send for operations that waited too long (docs/architecture.md, "Entities").

The message carries the entity's primary key only; the receiver
(``entities/actor.py``) reads the queued operations from the database, so a duplicate
finds nothing left (or the row held: SKIP LOCKED) and a lost one is sent again by
:func:`wake_stalled`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import dramatiq
from django.db import connection, transaction
from django.db.models import Q

from ..conf import conf
from ..runtime.queues import ORCHESTRATION, actor_name, queue_name
from .models import Entity, EntityOperation

log = logging.getLogger("workflows.runtime")

# Entity batches run short database work and user operations that must be quick (no
# I/O: that is what activities are for), so they share the orchestration queue.
ENTITY = "entity"


def entity_queue(hub: str) -> str:
    return queue_name(ORCHESTRATION, hub)


def entity_actor_name(hub: str) -> str:
    """``run_entity_<hub>``: the actor that applies one batch of an entity."""
    return actor_name(ENTITY, hub)


def send_now(entity_pk: int, hub: str) -> None:
    """Send the wake-up now; a failed send is only logged (the sweeper sends it again)."""
    message = dramatiq.Message(
        queue_name=entity_queue(hub),
        actor_name=entity_actor_name(hub),
        args=(entity_pk,),
        kwargs={},
        options={},
    )
    try:
        broker = dramatiq.get_broker()
        if message.queue_name not in broker.get_declared_queues():
            broker.declare_queue(message.queue_name)
        broker.enqueue(message)
    except Exception:  # noqa: BLE001 - the sweeper re-sends from database state
        log.warning("could not wake entity %s; the sweeper will retry", entity_pk)


def wake_entities(entity_pks: Iterable[int], hub: str) -> None:
    """Wake each entity once the current transaction commits (one message per entity).

    Example::

        with transaction.atomic():
            pks = enqueue(hub, [...])
            wake_entities(pks, hub)
    """
    pks = sorted(set(entity_pks))
    if pks:
        transaction.on_commit(lambda: [send_now(pk, hub) for pk in pks])


def wake_stalled(hub: str, now: datetime, batch: int = 200) -> int:
    """Wake entities whose oldest queued operation waited DURABLE_REDELIVER_AFTER_SECONDS.

    Covers a lost message, a killed worker, and a lock whose holder ended without
    releasing it (terminated): the batch finds the holder gone and frees the lock.
    """
    cutoff = now - timedelta(seconds=conf.REDELIVER_AFTER_SECONDS)
    # From the old operations (the created_at index), not a scan of every entity.
    waiting = (
        EntityOperation.objects.filter(created_at__lt=cutoff, entity__task_hub=hub)
        .order_by()
        .values_list("entity_id", flat=True)
        .distinct()[: batch * 5]
    )
    candidates = list(waiting)
    if not candidates:
        return 0
    stalled = (
        Entity.objects.filter(pk__in=candidates)
        .filter(Q(woken_at__isnull=True) | Q(woken_at__lt=cutoff))
        .order_by("pk")
    )
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            stalled = stalled.select_for_update(skip_locked=True, no_key=True)
        found = list(stalled.values_list("pk", flat=True)[:batch])
        if not found:
            return 0
        Entity.objects.filter(pk__in=found).update(woken_at=now)
        wake_entities(found, hub)
    return len(found)
