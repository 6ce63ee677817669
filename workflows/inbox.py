"""Delivering events to an instance's inbox, and creating instances."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.transaction import Atomic
from django.utils import timezone

from .engine import events as ev
from .models import InboxMessage, Instance
from .row_writes import insert_objects, insert_with_child
from .runtime.dispatch import wake_new, wake_orchestration
from .statuses import InstanceStatus
from .tracing import current_context


def new_execution_id() -> str:
    return uuid.uuid4().hex


# -- inbox -----------------------------------------------------------------------
def deliver(
    instance: Instance,
    event: ev.HistoryEvent,
    dedup_key: str | None = None,
    execution_id: str = "",
    wake: bool = True,
) -> bool:
    """Add ``event`` to the instance's inbox; False if ``dedup_key`` was seen already."""
    message = _message(instance, event, dedup_key, execution_id)
    if dedup_key is None:
        insert_objects([message])  # as save() does, without its per-call compiling
    else:
        try:
            with transaction.atomic():
                message.save()
        except IntegrityError:
            return False
    if wake:
        wake_orchestration(instance.pk, instance.task_hub)
    return True


def _message(
    instance: Instance, event: ev.HistoryEvent, dedup_key: str | None, execution_id: str
) -> InboxMessage:
    return InboxMessage(
        instance=instance,
        execution_id=execution_id,
        kind=event.kind.value,
        payload=ev.event_to_payload(event),
        dedup_key=dedup_key,
    )


def create_instance(
    *,
    hub: str,
    instance_id: str,
    name: str,
    version: int,
    input: Any,
    business_key: str = "",
    parent: Instance | None = None,
    parent_task_id: int | None = None,
    commit: Atomic | None = None,
) -> Instance:
    """Insert the instance row and its ExecutionStarted message, both or neither: one
    statement on PostgreSQL (``row_writes.insert_with_child``), atomic by itself, so the
    caller needs a transaction only for its other writes; ``commit`` (the caller's own
    block, in which it writes nothing more) sends that block's COMMIT along."""
    context = current_context()  # the start's (or parent episode's) span: workflows/tracing.py
    instance = Instance(
        task_hub=hub,
        instance_id=instance_id,
        name=name,
        version=version,
        status=InstanceStatus.PENDING,
        execution_id=new_execution_id(),
        input=input,
        business_key=business_key,
        parent=parent,
        parent_task_id=parent_task_id,
        woken_at=timezone.now(),
        trace_context=context,
    )
    parent_id = parent.instance_id if parent else None
    started = ev.ExecutionStarted(name, version, input, parent_id, parent_task_id, context)
    message = _message(instance, started, None, instance.execution_id)
    insert_with_child(instance, message, "instance", commit=commit)
    wake_new(instance.pk, hub)
    return instance
