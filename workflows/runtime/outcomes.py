"""Recording activity outcomes: the one writer of a task's finished state.

A task's outcome is recorded only while the task is still RUNNING, in one conditional
statement: a duplicate delivery, or a run whose lease was taken over and finished by
another worker, records nothing. The outcome then reaches the instance as a history
event, through its next episode (merged, runtime/activities.py) or through the inbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..compiled import StatementBatch
from ..engine import events as ev
from ..engine.activity import ActivityOutcome
from ..models import ActivityTask, InboxMessage
from ..row_writes import update_each, update_row
from ..statuses import TaskStatus
from .dispatch import wake_orchestration

Result = tuple[ActivityTask, ActivityOutcome]

_FINISHED_FIELDS = ["status", "result", "failure", "finished_at", "lease_expires_at"]


def _finished_fields(outcome: ActivityOutcome, now: datetime) -> dict[str, Any]:
    return {
        "status": TaskStatus.COMPLETED if outcome.ok else TaskStatus.FAILED,
        "result": outcome.result if outcome.ok else None,
        "failure": outcome.failure.to_dict() if outcome.failure else None,
        "finished_at": now,
        "lease_expires_at": None,
    }


def record(results: list[Result]) -> list[Result]:
    """Mark each task finished with its outcome if it is still RUNNING; returns those
    recorded (the others were duplicates). Inside the caller's transaction.

    One UPDATE for one result; for many, the rows are locked in pk order (one lock order
    for every writer of many task rows) and written by one UPDATE on PostgreSQL (a
    SELECT ... FOR UPDATE and a bulk UPDATE elsewhere).
    """
    batch = StatementBatch()
    recorded = record_in(batch, results)
    batch.run()
    return recorded()


def record_in(batch: StatementBatch, results: list[Result]) -> Callable[[], list[Result]]:
    """:func:`record`, its UPDATE added to ``batch`` (a merged step or a round sends it
    right after the instance lock, in the lock's round trip); the returned function,
    called once the batch ran, gives what :func:`record` returns. Where the database takes
    no batch of many rows (SQLite), that function records them itself, by the ORM."""
    now, where = timezone.now(), {"status": TaskStatus.RUNNING}
    if len(results) == 1:  # every step does this: compiled once (workflows/row_writes.py)
        task, outcome = results[0]
        update_row(ActivityTask, task.pk, _finished_fields(outcome, now), where, batch=batch)
        return lambda: list(results) if batch.rowcount else []
    finished = [(task, _finished_fields(outcome, now)) for task, outcome in results]
    rows = [(task.pk, fields) for task, fields in finished]
    if update_each(ActivityTask, rows, where=where, batch=batch) is None:
        return lambda: _record_by_orm(results, now)

    def recorded() -> list[Result]:
        changed = {pk for (pk,) in batch.returned}
        for task, fields in finished:
            if task.pk in changed:
                for field, value in fields.items():
                    setattr(task, field, value)
        return [(task, outcome) for task, outcome in results if task.pk in changed]

    return recorded


def _record_by_orm(results: list[Result], now: datetime) -> list[Result]:
    ours = set(
        ActivityTask.objects.select_for_update()
        .filter(pk__in=[task.pk for task, _ in results], status=TaskStatus.RUNNING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    recorded = [(task, outcome) for task, outcome in results if task.pk in ours]
    for task, outcome in recorded:
        for field, value in _finished_fields(outcome, now).items():
            setattr(task, field, value)
    if recorded:
        ActivityTask.objects.bulk_update([task for task, _ in recorded], _FINISHED_FIELDS)
    return recorded


def outcome_event(task: ActivityTask, outcome: ActivityOutcome) -> tuple[ev.HistoryEvent, str]:
    """The history event reporting an attempt's outcome, and its inbox dedup key."""
    event: ev.HistoryEvent
    if outcome.ok:
        event = ev.ActivityCompleted(task.task_id, outcome.result)
    else:
        assert outcome.failure is not None
        event = ev.ActivityFailedEvent(task.task_id, outcome.failure)
    return event, f"task:{task.execution_id}:{task.task_id}"


def to_inbox(recorded: list[Result]) -> None:
    """Put recorded outcomes in their instances' inboxes, in one INSERT.

    No savepoint: the task rows' status change (:func:`record`) already makes each one
    unique; ``ignore_conflicts`` only covers a message already there.
    """
    messages = []
    for task, outcome in recorded:
        event, dedup_key = outcome_event(task, outcome)
        messages.append(
            InboxMessage(
                instance_id=task.instance_id,
                execution_id=task.execution_id,
                kind=event.kind.value,
                payload=ev.event_to_payload(event),
                dedup_key=dedup_key,
            )
        )
    InboxMessage.objects.bulk_create(messages, ignore_conflicts=True)


def record_and_wake(task: ActivityTask, outcome: ActivityOutcome) -> bool:
    """Record one outcome through the inbox and wake its instance (no merged episode).

    Example::

        record_and_wake(task, ActivityOutcome(True, result=42))
    """
    with transaction.atomic():
        recorded = record([(task, outcome)])
        if recorded:
            to_inbox(recorded)
            wake_orchestration(task.instance_id, task.task_hub)
    return bool(recorded)
