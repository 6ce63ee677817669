"""The Dramatiq actor that applies an entity's next batch.

Imported by ``EntitiesConfig.ready()`` in every process (like ``bulk_actor``); senders
address it by name (``entities/wakeups.py``), so nothing below imports it.
"""

from __future__ import annotations

import dramatiq

from ..conf import conf
from .batches import run_entity
from .wakeups import entity_actor_name, entity_queue

HUB = conf.TASK_HUB


@dramatiq.actor(queue_name=entity_queue(HUB), actor_name=entity_actor_name(HUB))
def run_entity_batch(entity_pk: int) -> None:
    """Apply the entity's queued operations; the database says what is queued."""
    run_entity(entity_pk, HUB)
