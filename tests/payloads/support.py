"""One row of every model with payload columns, and raw reads of their columns."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from workflows.entities.models import Entity, EntityOperation, EntityOperationLog
from workflows.models import (
    ActivityTask,
    ApprovalRequest,
    BulkItem,
    BulkOperation,
    CompensationRecord,
    ExternalEvent,
    HistoryEvent,
    InboxMessage,
    Instance,
)
from workflows.payloads.fields import TEXT_MARK
from workflows.schedules.models import Schedule


def rows_of_every_kind(hub: str = "payload-tests") -> dict[type[Model], Model]:
    """A row of each model holding payload columns (values left at their defaults)."""
    inst = Instance.objects.create(
        task_hub=hub, instance_id="payloads-1", name="t_chain", execution_id="e1"
    )
    now = timezone.now()
    entity = Entity.objects.create(task_hub=hub, name="counter", key="k")
    bulk = BulkOperation.objects.create(
        task_hub=hub, action="raise_event", reason="test", actor="test"
    )
    common = {"instance": inst, "execution_id": "e1", "task_id": 1}
    return {
        Instance: inst,
        HistoryEvent: HistoryEvent.objects.create(
            instance=inst, execution_id="e1", seq=1, kind="execution_started", timestamp=now
        ),
        InboxMessage: InboxMessage.objects.create(instance=inst, kind="event_raised"),
        ActivityTask: ActivityTask.objects.create(
            **common, task_hub=hub, call_id=1, name="t_add", idempotency_key="i1"
        ),
        ExternalEvent: ExternalEvent.objects.create(
            instance=inst, name="approve", outcome="delivered"
        ),
        CompensationRecord: CompensationRecord.objects.create(
            **common, compensation_id="c1", activity="t_add", order=1
        ),
        ApprovalRequest: ApprovalRequest.objects.create(
            **common, request_id="r1", name="ok", assignees="staff"
        ),
        BulkOperation: bulk,
        BulkItem: BulkItem.objects.create(operation=bulk, target="payloads-1", instance_ref="x"),
        Entity: entity,
        EntityOperation: EntityOperation.objects.create(
            entity=entity, kind="signal", operation="add", created_at=now
        ),
        EntityOperationLog: EntityOperationLog.objects.create(
            entity=entity, kind="signal", operation="add", ok=False, applied_at=now
        ),
        Schedule: Schedule.objects.create(
            task_hub=hub, schedule_id="s1", orchestrator="t_chain", interval_seconds=60
        ),
    }


def raw_text(model: type[Model], column: str, pk: Any) -> str | None:
    """A payload column as the database holds it: a plain cursor, no field, no codec."""
    quote = connection.ops.quote_name
    table, name = quote(model._meta.db_table), quote(model._meta.get_field(column).column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {name} FROM {table} WHERE id = %s", [pk])
        (value,) = cursor.fetchone()
    return value if value is None or isinstance(value, str) else _as_text(value)


def envelope(text: str) -> dict[str, Any]:
    """The envelope a raw column holds: JSON, or a text column's "$p:" and JSON."""
    return json.loads(text[len(TEXT_MARK) :] if text.startswith(TEXT_MARK) else text)


def _as_text(value: Any) -> str:
    return json.dumps(value)  # psycopg hands jsonb over parsed
