"""Operator actions on an instance: terminate, compensation decisions, rewind, retry of a
stuck episode."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .effects import cancel_outstanding, notify_parent
from .engine import FailureDetails
from .engine import actions as act
from .engine import events as ev
from .engine.errors import InvalidInput, InvalidState
from .engine.saga import compensation_event_name
from .inbox import deliver
from .models import (
    ActivityTask,
    AuditEntry,
    CompensationRecord,
    HistoryEvent,
    InboxMessage,
    Instance,
)

# What is refused, and why, is decided in one place for the pages and here (offers.py).
from .offers import NOT_AT_LAST_STEP, SCHEDULING, TASK_FAILURES, WAITS_FOR_DECISION, rewindable
from .payloads import offload
from .runtime.cache import sticky_cache
from .runtime.dispatch import start_activity, wake_orchestration
from .signals import notify_changed
from .statuses import TERMINAL, CompensationStatus, InstanceStatus, TaskStatus

# What rewind and terminate change on the instance row: saved alone, as a full save would
# store the offloaded input and output again (leaving the previous objects behind).
_REWOUND = ["status", "failure", "completed_at", "history_length", "history_epoch"]
_TERMINATED = ["history_length", "status", "failure", "completed_at", "needs_attention"]

DECISIONS = {
    "retry": CompensationStatus.COMPENSATING,
    "resolve": CompensationStatus.RESOLVED_MANUALLY,
    "skip": CompensationStatus.SKIPPED,
}


def _audit(instance: Instance, action: str, by: Any, note: str = "", **detail: Any) -> None:
    AuditEntry.objects.create(
        instance=instance,
        instance_ref=instance.instance_id,
        user=by if getattr(by, "pk", None) else None,
        actor=getattr(by, "username", None) or (str(by) if by else "system"),
        action=action,
        note=note,
        detail=detail,
    )


def decide_compensation(
    record_id: int, decision: str, by: Any, note: str, hub: str
) -> CompensationRecord:
    """Retry, resolve (done by hand) or skip a compensation that failed for good."""
    if decision not in DECISIONS:
        raise InvalidInput(f"Unknown decision {decision!r}; use retry, resolve or skip.")
    if decision != "retry" and not (isinstance(note, str) and note.strip()):
        raise InvalidInput(f"A note is required to {decision} a compensation: say what was done.")
    with transaction.atomic():
        record = (
            CompensationRecord.objects.select_for_update(of=("self",))
            .select_related("instance")
            .filter(pk=record_id, instance__task_hub=hub)
            .first()
        )
        if record is None:
            raise InvalidInput(f"No compensation record {record_id} exists.")
        if record.status != CompensationStatus.FAILED:
            raise InvalidState(
                f"Compensation {record.activity!r} is {record.status}, not failed; "
                "only a failed compensation takes a decision."
            )
        instance = record.instance
        if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
            raise InvalidState(
                f"The workflow {instance.instance_id!r} is {instance.status}; it no longer "
                "waits for this decision."
            )
        record.status = DECISIONS[decision]
        record.resolution = decision
        record.resolution_note = note or ""
        record.resolved_by = by if getattr(by, "pk", None) else None
        # Only what changed: a full save would store the offloaded input again.
        record.save(
            update_fields=["status", "resolution", "resolution_note", "resolved_by", "updated_at"]
        )
        # The instance no longer waits on a person once every failed compensation has a
        # decision (a retry that fails again flags it again). The saga's own updates do
        # not clear it when the decided step was the last one to undo.
        still_failed = CompensationRecord.objects.filter(
            instance=instance, status=CompensationStatus.FAILED
        ).exists()
        if not still_failed and instance.attention_reason.startswith("compensation"):
            instance.needs_attention, instance.attention_reason = False, ""
            instance.save(update_fields=["needs_attention", "attention_reason", "updated_at"])
        username = getattr(by, "username", None) or str(by or "system")
        deliver(
            instance,
            ev.EventRaised(
                compensation_event_name(record.task_id),
                {"action": decision, "by": username, "note": note or ""},
            ),
            dedup_key=f"compensation:{record.pk}:{record.attempts}:{decision}",
            execution_id=record.execution_id,
        )
        notify_changed(instance)
        _audit(instance, f"compensation_{decision}", by, note, compensation=record.activity)
    return record


def _locked_instance(instance_id: str, hub: str) -> Instance:
    instance = (
        Instance.objects.select_for_update(no_key=True)  # as episodes take it (episodes.py)
        .filter(task_hub=hub, instance_id=instance_id)
        .first()
    )
    if instance is None:
        raise InvalidInput(f"No instance {instance_id!r} exists.")
    return instance


def rewind(instance_id: str, hub: str, by: Any = None, reason: str = "") -> None:
    """Resume a failed instance at its point of failure: re-run the failed tasks."""
    with transaction.atomic():
        instance = _locked_instance(instance_id, hub)
        if instance.status != InstanceStatus.FAILED:
            raise InvalidState(
                f"Instance {instance_id!r} is {instance.status}; only a failed instance can be "
                "rewound."
            )
        rows = list(
            HistoryEvent.objects.filter(
                instance=instance, execution_id=instance.execution_id
            ).order_by("seq")
        )
        if not rewindable([r.kind for r in rows]):
            raise InvalidState(f"Instance {instance_id!r} cannot be rewound: {NOT_AT_LAST_STEP}.")
        last_scheduling = max((r.seq for r in rows if r.kind in SCHEDULING), default=0)
        failed = [r for r in rows if r.kind in TASK_FAILURES and r.seq > last_scheduling]
        drop = {r.pk for r in failed} | {r.pk for r in rows if r.kind == "execution_failed"}
        kept = [r for r in rows if r.pk not in drop]
        dropped = HistoryEvent.objects.filter(pk__in=drop)
        offload.delete_objects_of(dropped)  # once this commits, with the rows
        dropped.delete()
        # Renumber so seq stays contiguous (history replays in seq order).
        for new_seq, row in enumerate(kept, start=1):
            if row.seq != new_seq:
                HistoryEvent.objects.filter(pk=row.pk).update(seq=new_seq + 1_000_000)
        for new_seq, row in enumerate(kept, start=1):
            if row.seq != new_seq:
                HistoryEvent.objects.filter(pk=row.pk).update(seq=new_seq)
        now = timezone.now()
        for row in failed:
            task_id = row.payload["task_id"]
            if row.kind == "activity_failed":
                task = ActivityTask.objects.get(
                    instance=instance, execution_id=instance.execution_id, task_id=task_id
                )
                offload.delete_objects_of(ActivityTask.objects.filter(pk=task.pk), ["result"])
                task.status, task.enqueued_at = TaskStatus.SCHEDULED, now
                task.result = task.failure = None
                # Only what changed: a full save would store the offloaded input again.
                task.save(update_fields=["status", "enqueued_at", "result", "failure"])
                start_activity(task.pk, instance.task_hub, task.name)
            else:
                child = Instance.objects.get(parent=instance, parent_task_id=task_id)
                rewind(child.instance_id, hub, by, f"parent {instance_id} rewound")
        instance.status = InstanceStatus.RUNNING
        instance.failure = None
        instance.completed_at = None
        instance.history_length = len(kept)
        instance.history_epoch += 1
        instance.save(update_fields=[*_REWOUND, "updated_at"])
        sticky_cache().discard(instance.pk)
        notify_changed(instance)
        _audit(instance, "rewind", by, reason, rerun=[r.payload["task_id"] for r in failed])


def retry_episode(instance_id: str, hub: str, by: Any = None, reason: str = "") -> None:
    """Run the pending episode again, e.g. after deploying a fix for a replay error."""
    with transaction.atomic():
        instance = _locked_instance(instance_id, hub)
        if instance.status not in (InstanceStatus.PENDING, InstanceStatus.RUNNING):
            raise InvalidState(
                f"Instance {instance_id!r} is {instance.status}; only a pending or running "
                "instance has an episode to retry."
            )
        if CompensationRecord.objects.filter(
            instance=instance, status=CompensationStatus.FAILED
        ).exists():
            raise InvalidState(
                f"Instance {instance_id!r} has no episode to retry: {WAITS_FOR_DECISION}."
            )
        sticky_cache().discard(instance.pk)
        instance.woken_at = timezone.now()
        instance.save(update_fields=["woken_at"])
        wake_orchestration(instance.pk, instance.task_hub)
        _audit(instance, "retry_episode", by, reason)


def terminate_instance(instance: Instance, reason: str, now: datetime | None = None) -> None:
    """End an active instance (locked by the caller), its children too; works when stuck."""
    now = now or timezone.now()
    event = ev.ExecutionTerminated(reason)
    HistoryEvent.objects.create(
        instance=instance,
        execution_id=instance.execution_id,
        seq=instance.history_length + 1,
        kind=event.kind.value,
        payload=ev.event_to_payload(event),
        timestamp=now,
    )
    instance.history_length += 1
    instance.status = InstanceStatus.TERMINATED
    instance.failure = FailureDetails("Terminated", reason or "terminated").to_dict()
    instance.completed_at = now
    instance.needs_attention = False
    instance.save(update_fields=[*_TERMINATED, "updated_at"])
    notify_changed(instance)
    cancel_outstanding(instance)
    sticky_cache().discard(instance.pk)
    for child in (
        Instance.objects.select_for_update(no_key=True)
        .filter(parent=instance)
        .exclude(status__in=TERMINAL)
    ):
        terminate_instance(child, f"parent {instance.instance_id} terminated: {reason}", now)
    # After the children: their "sub-orchestration failed" notices must not linger here.
    InboxMessage.objects.filter(instance=instance).delete()
    notify_parent(instance, act.TerminateOrchestration(reason))
