"""The Dramatiq actor that carries out bulk operations, one chunk per message.

Imported by ``WorkflowsConfig.ready()`` in every process (like ``ui.live``), so every
worker of the hub serves it: it sits above DurableClient, whose single actions it applies,
so the runtime below cannot import it. Its messages travel on the hub's orchestration
queue (workflows/runtime/bulk_wakeups.py); a chunk that commits sends the next message.
"""

from __future__ import annotations

import dramatiq

from .client import DurableClient
from .conf import conf
from .runtime.bulk_wakeups import bulk_actor_name, bulk_queue

HUB = conf.TASK_HUB


@dramatiq.actor(queue_name=bulk_queue(HUB), actor_name=bulk_actor_name(HUB))
def run_bulk(operation_pk: int) -> None:
    """One chunk of the operation: the database says what is left, a duplicate message
    finds the chunk locked or done and does nothing."""
    DurableClient(hub=HUB).run_bulk_chunk(operation_pk)
