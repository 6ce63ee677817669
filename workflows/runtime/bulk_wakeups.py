"""Wake-ups of bulk operations: the message that runs an operation's next chunk, and the
sweeper's re-send of a wake-up that got lost (docs/architecture.md, "Bulk operations").

As everywhere, the database is the truth and the message only wakes: it carries the
operation's primary key, and the receiver (``workflows/bulk_actor.py``) reads what is left
to do. A lost message (a broker restart, a worker killed before it acknowledged) costs
nothing but time: an operation still running whose last chunk or wake-up is older than
``DURABLE_REDELIVER_AFTER_SECONDS`` is woken again by :func:`resend_stalled`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dramatiq
from django.db import connection, transaction
from django.db.models import Q

from ..conf import conf
from ..models import BulkOperation, BulkStatus
from .queues import ORCHESTRATION, actor_name, queue_name

log = logging.getLogger("workflows.runtime")

# The bulk actor shares the hub's orchestration queue: those threads run short database
# work (episodes), never user code, so a chunk does not wait behind long activities. One
# chunk runs at a time per operation, so it takes at most one thread.
BULK = "bulk"


def bulk_queue(hub: str) -> str:
    """The broker queue of a hub's bulk wake-ups (its orchestration queue)."""
    return queue_name(ORCHESTRATION, hub)


def bulk_actor_name(hub: str) -> str:
    """``run_bulk_<hub>``: the actor that runs one chunk of an operation."""
    return actor_name(BULK, hub)


def send_now(operation_pk: int, hub: str, delay_ms: int | None = None) -> None:
    """Send the wake-up now; a failed send is only logged (the sweeper sends it again)."""
    message = dramatiq.Message(
        queue_name=bulk_queue(hub),
        actor_name=bulk_actor_name(hub),
        args=(operation_pk,),
        kwargs={},
        options={},
    )
    try:
        broker = dramatiq.get_broker()
        if message.queue_name not in broker.get_declared_queues():
            broker.declare_queue(message.queue_name)  # the embedded broker needs it declared
        broker.enqueue(message, delay=delay_ms)
    except Exception:  # noqa: BLE001 - the sweeper re-sends from database state
        log.warning("could not enqueue bulk operation %s; the sweeper will retry", operation_pk)


def wake_bulk(operation_pk: int, hub: str, delay_ms: int | None = None) -> None:
    """Run the operation's next chunk once the current transaction commits.

    Example::

        with transaction.atomic():
            operation = BulkOperation.objects.create(...)
            wake_bulk(operation.pk, operation.task_hub)
    """
    transaction.on_commit(lambda: send_now(operation_pk, hub, delay_ms))


def resend_stalled(hub: str, now: datetime, batch: int = 100) -> int:
    """Wake running operations that made no progress for DURABLE_REDELIVER_AFTER_SECONDS.

    An operation whose chunk is running right now holds its row lock: SKIP LOCKED passes
    it over (on PostgreSQL), so a slow chunk is not woken twice.
    """
    cutoff = now - timedelta(seconds=conf.REDELIVER_AFTER_SECONDS)
    stalled = BulkOperation.objects.filter(task_hub=hub, status=BulkStatus.RUNNING).filter(
        Q(woken_at__lt=cutoff) | Q(woken_at__isnull=True)
    )
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            stalled = stalled.select_for_update(skip_locked=True)
        found = list(stalled.order_by("pk").values_list("pk", flat=True)[:batch])
        if not found:
            return 0
        BulkOperation.objects.filter(pk__in=found).update(woken_at=now)
        for pk in found:
            log.info("bulk operation %s made no progress for a while; waking it again", pk)
            wake_bulk(pk, hub)
    return len(found)
