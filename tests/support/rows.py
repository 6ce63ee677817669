"""Rows for the tests of workflows/compiled.py and workflows/row_writes.py: an instance,
its history rows as tuples and as models, its activity tasks, the SQL a block sent."""

from __future__ import annotations

from typing import Any

from workflows.models import ActivityTask, HistoryEvent, Instance

COLUMNS = ["instance", "execution_id", "seq", "kind", "payload", "timestamp"]


def new_instance(instance_id: str) -> Instance:
    return Instance.objects.create(
        task_hub="default", instance_id=instance_id, name="t_chain", execution_id="e1"
    )


def task_row(inst: Instance, n: int, **fields: Any) -> ActivityTask:
    """Task ``n`` of ``inst``'s execution e1, unsaved; ``fields`` set the rest."""
    return ActivityTask(
        task_hub="default",
        instance=inst,
        execution_id="e1",
        task_id=n,
        call_id=n,
        name="t_step",
        idempotency_key=f"batch-1:e1:{n}",
        **fields,
    )


def history_row(inst: Instance, seq: int) -> tuple:
    return (inst.pk, "e1", seq, "event_raised", {"seq": seq}, inst.created_at)


def history_event(inst: Instance, seq: int) -> HistoryEvent:
    """The row of :func:`history_row` as an unsaved model."""
    _pk, execution_id, seq, kind, payload, timestamp = history_row(inst, seq)
    return HistoryEvent(
        instance=inst,
        execution_id=execution_id,
        seq=seq,
        kind=kind,
        payload=payload,
        timestamp=timestamp,
    )


def sent(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("BEGIN")]
