"""Rows <-> engine events; one episode committed atomically (DESIGN §4)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .engine import (
    DurableError,
    FailureDetails,
    InstanceRef,
    Orchestration,
    OrchestrationStatus,
    default_registry,
)
from .engine import actions as act
from .engine import events as ev
from .engine.registry import Registry
from .engine.saga import compensation_id
from .logging import log_context
from .metrics import observe_episode, observe_replay_failure
from .models import (
    ActivityTask,
    ApprovalRequest,
    CompensationRecord,
    HistoryEvent,
    InboxMessage,
    Instance,
    Timer,
)
from .retention import note_history_growth
from .runtime.cache import sticky_cache
from .runtime.dispatch import start_activity, wake_orchestration
from .signals import approval_requested, compensation_failed, notify_changed
from .statuses import (
    TERMINAL,
    ApprovalStatus,
    CompensationStatus,
    InstanceStatus,
    TaskStatus,
)

MANUAL_OUTCOMES = frozenset({CompensationStatus.RESOLVED_MANUALLY, CompensationStatus.SKIPPED})

log = logging.getLogger("workflows.runtime")

_STATUS_OF = {
    OrchestrationStatus.RUNNING: InstanceStatus.RUNNING,
    OrchestrationStatus.COMPLETED: InstanceStatus.COMPLETED,
    OrchestrationStatus.FAILED: InstanceStatus.FAILED,
    OrchestrationStatus.TERMINATED: InstanceStatus.TERMINATED,
    OrchestrationStatus.CONTINUED_AS_NEW: InstanceStatus.RUNNING,
}


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
    message = InboxMessage(
        instance=instance,
        execution_id=execution_id,
        kind=event.kind.value,
        payload=ev.event_to_payload(event),
        dedup_key=dedup_key,
    )
    if dedup_key is None:
        message.save()
    else:
        try:
            with transaction.atomic():
                message.save()
        except IntegrityError:
            return False
    if wake:
        wake_orchestration(instance.pk, instance.task_hub)
    return True


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
) -> Instance:
    """Insert the instance row and its ExecutionStarted message (caller holds the transaction)."""
    instance = Instance.objects.create(
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
    )
    started = ev.ExecutionStarted(
        name, version, input, parent.instance_id if parent else None, parent_task_id
    )
    deliver(instance, started, execution_id=instance.execution_id)
    return instance


# -- one episode -------------------------------------------------------------------
def run_episode(instance_pk: int, registry: Registry | None = None, hub: str | None = None) -> bool:
    """Apply all pending inbox messages of one instance in one transaction.

    Returns True when an episode ran. Wake-ups are idempotent: with nothing in the
    inbox (or the instance suspended or finished, or not of ``hub``) this does nothing.
    """
    registry = registry or default_registry
    cache = sticky_cache()
    orchestration: Orchestration | None = None
    with transaction.atomic():
        instance = Instance.objects.select_for_update().filter(pk=instance_pk).first()
        if instance is None or instance.status in TERMINAL:
            return False
        if hub is not None and instance.task_hub != hub:
            return False  # another task hub's instance: never ours to run
        messages = list(InboxMessage.objects.filter(instance=instance).order_by("pk"))
        if not messages or instance.status == InstanceStatus.SUSPENDED:
            return False
        now = timezone.now()
        stale = [m.pk for m in messages if m.execution_id not in ("", instance.execution_id)]
        events = [
            ev.event_from_payload(m.kind, m.payload)
            for m in messages
            if m.execution_id in ("", instance.execution_id)
        ]
        if not events:  # only late messages of an ended execution: drop, no empty episode
            InboxMessage.objects.filter(pk__in=stale).delete()
            return False
        history_before, execution_before = instance.history_length, instance.execution_id
        replay_seconds = None
        started = time.perf_counter()
        try:
            orchestration = cache.take(instance.pk, instance.execution_id, instance.history_length)
            if orchestration is None:
                orchestration = _replay(registry, instance)
                replay_seconds = time.perf_counter() - started
            result = orchestration.apply(events, now)
        except DurableError as exc:
            cache.discard(instance.pk)
            _needs_attention(instance, exc)
            if stale:
                InboxMessage.objects.filter(pk__in=stale).delete()
            return False
        _append_history(instance, result.new_history, now)
        ctx = _EpisodeEffects(instance, now, registry)
        for action in result.actions:
            ctx.apply(action)
        InboxMessage.objects.filter(pk__in=[m.pk for m in messages]).delete()
        if not ctx.continued:
            instance.status = _STATUS_OF[result.status]
            instance.output = result.output
            instance.failure = result.failure.to_dict() if result.failure else None
            if instance.status in TERMINAL:
                instance.completed_at = now
        instance.custom_status = result.custom_status
        if instance.needs_attention and instance.attention_reason.startswith("replay:"):
            instance.needs_attention, instance.attention_reason = False, ""
        instance.save()
        notify_changed(instance)
        execution_id, running = instance.execution_id, instance.status == InstanceStatus.RUNNING
    observe_episode(instance.name, result, events, time.perf_counter() - started, replay_seconds)
    note_history_growth(instance, history_before)
    if result.is_finished:
        log.info(
            "orchestration %s %s (%s)",
            instance.name,
            result.status,
            instance.instance_id,
            extra=log_context(
                instance, execution_id=execution_before, history_length=result.history_length
            ),
        )
    if running and not ctx.continued:
        cache.put(instance.pk, execution_id, orchestration)
    else:
        cache.discard(instance.pk)
    return True


def _replay(registry: Registry, instance: Instance) -> Orchestration:
    rows = (
        HistoryEvent.objects.filter(instance=instance, execution_id=instance.execution_id)
        .order_by("seq")
        .values_list("kind", "payload")
    )
    orchestration = Orchestration(
        registry,
        InstanceRef(instance.instance_id, instance.execution_id),
        max_output_bytes=int(settings.DURABLE_MAX_PAYLOAD_BYTES),
    )
    orchestration.replay(ev.event_from_payload(kind, payload) for kind, payload in rows)
    return orchestration


def _append_history(instance: Instance, events: tuple[ev.HistoryEvent, ...], now: datetime) -> None:
    start = instance.history_length
    HistoryEvent.objects.bulk_create(
        HistoryEvent(
            instance=instance,
            execution_id=instance.execution_id,
            seq=start + i + 1,
            kind=e.kind.value,
            payload=ev.event_to_payload(e),
            timestamp=now,
        )
        for i, e in enumerate(events)
    )
    instance.history_length = start + len(events)


def _needs_attention(instance: Instance, exc: Exception) -> None:
    """Replay no longer matches the code: keep the inbox, flag for a person."""
    log.error(
        "instance %s (%s) needs attention: %s",
        instance.instance_id,
        instance.business_key or "-",
        exc,
        extra=log_context(instance),
    )
    observe_replay_failure(instance.name)
    instance.needs_attention = True
    instance.attention_reason = f"replay: {exc}"
    instance.save(update_fields=["needs_attention", "attention_reason", "updated_at"])
    notify_changed(instance)


class _EpisodeEffects:
    """Carries out an episode's actions inside its transaction (dispatch table)."""

    def __init__(self, instance: Instance, now: datetime, registry: Registry) -> None:
        self.instance = instance
        self.now = now
        self.registry = registry
        self.continued = False
        self._handlers: dict[type, Callable[[Any], None]] = {
            act.ScheduleActivity: self._schedule_activity,
            act.CreateTimer: self._create_timer,
            act.StartSubOrchestration: self._start_child,
            act.RecordMarker: lambda a: None,
            act.SetCustomStatus: lambda a: None,  # the instance row takes it below
            act.CompleteOrchestration: self._finished,
            act.FailOrchestration: self._finished,
            act.TerminateOrchestration: self._terminated,
            act.ContinueAsNew: self._continue_as_new,
            act.RegisterCompensation: self._register_compensation,
            act.UpdateCompensation: self._update_compensation,
            act.RequestApproval: self._request_approval,
            act.UpdateApproval: self._update_approval,
        }

    def apply(self, action: act.Action) -> None:
        self._handlers[type(action)](action)

    def _schedule_activity(self, action: act.ScheduleActivity) -> None:
        inst = self.instance
        call_id = action.call_id or action.task_id
        task = ActivityTask.objects.create(
            task_hub=inst.task_hub,
            instance=inst,
            execution_id=inst.execution_id,
            task_id=action.task_id,
            call_id=call_id,
            name=action.name,
            input=action.input,
            attempt=action.attempt,
            idempotency_key=action.idempotency_key
            or f"{inst.instance_id}:{inst.execution_id}:{call_id}",
            enqueued_at=self.now,
        )
        start_activity(task.pk, inst.task_hub)

    def _create_timer(self, action: act.CreateTimer) -> None:
        inst = self.instance
        Timer.objects.create(
            task_hub=inst.task_hub,
            instance=inst,
            execution_id=inst.execution_id,
            task_id=action.task_id,
            fire_at=action.fire_at,
            purpose=action.purpose,
        )

    def _start_child(self, action: act.StartSubOrchestration) -> None:
        inst = self.instance
        try:
            definition = self.registry.get_orchestrator(action.name, action.version)
        except DurableError as exc:
            self._fail_child_task(action.task_id, exc)
            return
        existing = Instance.objects.filter(
            task_hub=inst.task_hub, instance_id=action.instance_id
        ).first()
        if existing is not None:
            error = DurableError(
                f"Cannot start sub-orchestration {action.name!r}: instance id "
                f"{action.instance_id!r} is already taken. Choose another instance_id."
            )
            self._fail_child_task(action.task_id, error)
            return
        create_instance(
            hub=inst.task_hub,
            instance_id=action.instance_id,
            name=definition.name,
            version=definition.version,
            input=action.input,
            parent=inst,
            parent_task_id=action.task_id,
        )

    def _fail_child_task(self, task_id: int, exc: Exception) -> None:
        failure = FailureDetails.from_exception(exc)
        deliver(
            self.instance,
            ev.SubOrchestrationFailedEvent(task_id, failure),
            execution_id=self.instance.execution_id,
        )

    def _register_compensation(self, action: act.RegisterCompensation) -> None:
        inst = self.instance
        CompensationRecord.objects.create(
            instance=inst,
            execution_id=inst.execution_id,
            task_id=action.task_id,
            compensation_id=compensation_id(inst.instance_id, inst.execution_id, action.task_id),
            step=action.step,
            activity=action.name,
            input=action.input,
            order=action.order,
        )

    def _update_compensation(self, action: act.UpdateCompensation) -> None:
        inst = self.instance
        record = CompensationRecord.objects.get(
            instance=inst, execution_id=inst.execution_id, task_id=action.task_id
        )
        if record.status in MANUAL_OUTCOMES:
            return  # an operator already closed it; the saga is only catching up
        record.status = action.status
        record.attempts = action.attempts
        if action.failure is not None:
            record.last_error = action.failure.to_dict()
        record.save()
        if action.status == CompensationStatus.FAILED:
            reason = (
                f"compensation {record.step or record.activity} ({record.activity}) failed: "
                f"{action.failure.summary() if action.failure else 'error'}; "
                "retry, resolve or skip it"
            )
            inst.needs_attention, inst.attention_reason = True, reason
            log.error(
                "compensation failed for good: instance %s business key %s step %s: %s",
                inst.instance_id,
                inst.business_key or "-",
                record.step or record.activity,
                action.failure.summary() if action.failure else "error",
                extra=log_context(inst, step=record.step or record.activity),
            )
            transaction.on_commit(
                lambda: compensation_failed.send(CompensationRecord, record=record, instance=inst)
            )
        elif inst.attention_reason.startswith("compensation"):
            inst.needs_attention, inst.attention_reason = False, ""

    def _request_approval(self, action: act.RequestApproval) -> None:
        inst = self.instance
        approval = ApprovalRequest.objects.create(
            instance=inst,
            execution_id=inst.execution_id,
            task_id=action.task_id,
            request_id=f"{inst.instance_id}:{inst.execution_id}:{action.task_id}",
            name=action.name,
            assignees=action.assignees,
            details=action.details,
            deadline=action.deadline,
        )
        transaction.on_commit(
            lambda: approval_requested.send(ApprovalRequest, approval=approval, instance=inst)
        )

    def _update_approval(self, action: act.UpdateApproval) -> None:
        inst = self.instance
        ApprovalRequest.objects.filter(
            instance=inst,
            execution_id=inst.execution_id,
            task_id=action.task_id,
            status=ApprovalStatus.PENDING,
        ).update(status=action.status)

    def _finished(self, action: act.Action) -> None:
        cancel_outstanding(self.instance)
        notify_parent(self.instance, action)

    def _terminated(self, action: act.TerminateOrchestration) -> None:
        cancel_outstanding(self.instance)
        notify_parent(self.instance, action)

    def _continue_as_new(self, action: act.ContinueAsNew) -> None:
        inst = self.instance
        cancel_outstanding(inst)
        old_execution = inst.execution_id
        # Keep the just-ended execution for inspection; older ones go (bounded history).
        HistoryEvent.objects.filter(instance=inst).exclude(execution_id=old_execution).delete()
        inst.execution_id = new_execution_id()
        inst.generation += 1
        inst.history_length = 0
        inst.status = InstanceStatus.RUNNING
        inst.input = action.input
        parent_id = inst.parent.instance_id if inst.parent_id else None
        started = ev.ExecutionStarted(
            inst.name, inst.version, action.input, parent_id, inst.parent_task_id
        )
        for event in (started, *action.carryover_events):
            deliver(inst, event, execution_id=inst.execution_id, wake=False)
        wake_orchestration(inst.pk, inst.task_hub)
        self.continued = True


def notify_parent(instance: Instance, action: act.Action) -> None:
    """Tell the parent (if any) how its sub-orchestration ended."""
    if instance.parent_id is None or instance.parent_task_id is None:
        return
    if isinstance(action, act.CompleteOrchestration):
        event: ev.HistoryEvent = ev.SubOrchestrationCompleted(
            instance.parent_task_id, action.output
        )
    elif isinstance(action, act.FailOrchestration):
        event = ev.SubOrchestrationFailedEvent(instance.parent_task_id, action.failure)
    else:
        reason = getattr(action, "reason", "") or "terminated"
        failure = FailureDetails("Terminated", f"sub-orchestration terminated: {reason}")
        event = ev.SubOrchestrationFailedEvent(instance.parent_task_id, failure)
    parent = Instance.objects.get(pk=instance.parent_id)
    deliver(parent, event, dedup_key=f"child:{instance.pk}:{instance.execution_id}")


def cancel_outstanding(instance: Instance) -> None:
    """Outstanding tasks are not started; pending timers never fire."""
    ActivityTask.objects.filter(
        instance=instance, status__in=[TaskStatus.SCHEDULED, TaskStatus.RUNNING]
    ).update(status=TaskStatus.CANCELLED, lease_expires_at=None)
    Timer.objects.filter(instance=instance, fired=False).update(fired=True)
    ApprovalRequest.objects.filter(instance=instance, status=ApprovalStatus.PENDING).update(
        status=ApprovalStatus.CANCELLED
    )


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
    instance.save()
    notify_changed(instance)
    cancel_outstanding(instance)
    sticky_cache().discard(instance.pk)
    for child in (
        Instance.objects.select_for_update().filter(parent=instance).exclude(status__in=TERMINAL)
    ):
        terminate_instance(child, f"parent {instance.instance_id} terminated: {reason}", now)
    # After the children: their "sub-orchestration failed" notices must not linger here.
    InboxMessage.objects.filter(instance=instance).delete()
    notify_parent(instance, act.TerminateOrchestration(reason))


# -- activity results ------------------------------------------------------------
def record_task_outcome(
    task_pk: int, ok: bool, result: Any, failure: FailureDetails | None
) -> bool:
    """Record an activity attempt's outcome and wake the instance; duplicates change nothing."""
    with transaction.atomic():
        task = ActivityTask.objects.select_for_update().filter(pk=task_pk).first()
        if task is None or task.status != TaskStatus.RUNNING:
            return False
        task.status = TaskStatus.COMPLETED if ok else TaskStatus.FAILED
        task.result = result if ok else None
        task.failure = failure.to_dict() if failure else None
        task.finished_at = timezone.now()
        task.lease_expires_at = None
        task.save(update_fields=["status", "result", "failure", "finished_at", "lease_expires_at"])
        event: ev.HistoryEvent
        if ok:
            event = ev.ActivityCompleted(task.task_id, result)
        else:
            assert failure is not None
            event = ev.ActivityFailedEvent(task.task_id, failure)
        instance = Instance(pk=task.instance_id, task_hub=task.task_hub)
        deliver(
            instance,
            event,
            dedup_key=f"task:{task.execution_id}:{task.task_id}",
            execution_id=task.execution_id,
        )
    return True
