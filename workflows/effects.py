"""Carrying out an episode's actions inside its transaction (docs/architecture.md,
"One episode", step 4)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.transaction import Atomic

from .compiled import CompiledUpdate, StatementBatch, sending
from .engine import DurableError, FailureDetails
from .engine import actions as act
from .engine import events as ev
from .engine.registry import Registry
from .engine.saga import compensation_id
from .engine.search_attributes import merge
from .entities.sending import ENTITY_ACTIONS, send_from_episode
from .inbox import create_instance, deliver, new_execution_id
from .limits.admission import start_tasks
from .limits.config import runs_inline
from .logging import log_context
from .models import (
    ActivityTask,
    ApprovalRequest,
    CompensationRecord,
    HistoryEvent,
    Instance,
    Timer,
)
from .payloads import offload
from .payloads.redaction import failure_for_log
from .row_writes import insert_objects
from .runtime.dispatch import wake_orchestration
from .runtime.leases import claim_new, worker_name
from .signals import approval_requested, compensation_failed
from .statuses import ApprovalStatus, CompensationStatus, InstanceStatus, TaskStatus
from .tracing import current_context

MANUAL_OUTCOMES = frozenset({CompensationStatus.RESOLVED_MANUALLY, CompensationStatus.SKIPPED})

log = logging.getLogger("workflows.runtime")


class EpisodeEffects:
    """Carries out an episode's actions inside its transaction (dispatch table)."""

    def __init__(
        self,
        instance: Instance,
        now: datetime,
        registry: Registry,
        claim: bool | Sequence[str] = False,
        batch: StatementBatch | None = None,
    ) -> None:
        self.instance = instance
        self.batch = batch  # the episode's writes sent together (workflows/compiled.py)
        self.now = now
        self.registry = registry
        self.continued = False
        # Who runs the first inline activities right after commit: this thread (True), or
        # the threads whose results a combined episode applies (their worker names).
        self._claim_for = [worker_name()] if claim is True else list(claim or ())
        self.claimed_all: list[ActivityTask] = []
        self._new_tasks: list[ActivityTask] = []
        self._handlers: dict[type, Callable[[Any], None]] = {
            act.ScheduleActivity: self._schedule_activity,
            act.CreateTimer: self._create_timer,
            act.StartSubOrchestration: self._start_child,
            act.RecordMarker: lambda a: None,
            act.UpsertSearchAttributes: self._upsert_search_attributes,
            act.SetCustomStatus: lambda a: None,  # the instance row takes it below
            act.CompleteOrchestration: self._finished,
            act.FailOrchestration: self._finished,
            act.TerminateOrchestration: self._terminated,
            act.ContinueAsNew: self._continue_as_new,
            act.RegisterCompensation: self._register_compensation,
            act.UpdateCompensation: self._update_compensation,
            act.RequestApproval: self._request_approval,
            act.UpdateApproval: self._update_approval,
            # Entity operations become queued rows (workflows/entities/sending.py).
            **dict.fromkeys(
                ENTITY_ACTIONS, lambda a: send_from_episode(self.instance, a, self.now)
            ),
        }

    def apply(self, action: act.Action) -> None:
        self._handlers[type(action)](action)

    def _schedule_activity(self, action: act.ScheduleActivity) -> None:
        inst = self.instance
        call_id = action.call_id or action.task_id
        task = ActivityTask(
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
            resends=0,
            start_to_close=_duration(action.start_to_close),
            heartbeat_timeout=_duration(action.heartbeat_timeout),
        )
        claimed = len(self.claimed_all)
        if claimed < len(self._claim_for) and runs_inline(action.name):
            # A worker thread runs this one right after commit: no broker hop. (Not a
            # limited activity, which waits its turn, nor one with its own queue.)
            claim_new(task, self.now, self._claim_for[claimed])
            self.claimed_all.append(task)
        self._new_tasks.append(task)

    @property
    def claimed(self) -> ActivityTask | None:
        """The first task claimed for a thread (the only one with ``claim=True``)."""
        return self.claimed_all[0] if self.claimed_all else None

    def flush(self, batch: StatementBatch | None = None, commit: Atomic | None = None) -> None:
        """Write the episode's new activity tasks in one statement (after ``batch``'s, in
        its round trip, with the COMMIT of the ``commit`` block: StatementBatch.run) and enqueue
        them (after the commit)."""
        if not self._new_tasks:
            return
        self._carry_heartbeats()
        insert_objects(self._new_tasks, batch=batch, commit=commit)
        claimed = {id(t) for t in self.claimed_all}
        start_tasks((t for t in self._new_tasks if id(t) not in claimed), self.instance.task_hub)
        self._new_tasks = []

    def _carry_heartbeats(self) -> None:
        """A retry's attempt starts from the last heartbeat of its call's earlier attempts
        (``ctx.last_heartbeat``): one query, only when the episode schedules retries."""
        retries = {task.call_id: task for task in self._new_tasks if task.attempt > 1}
        if not retries:
            return
        beats = (
            ActivityTask.objects.filter(
                instance=self.instance,
                execution_id=self.instance.execution_id,
                call_id__in=list(retries),
                heartbeat_at__isnull=False,
            )
            .order_by("call_id", "attempt")
            .values_list("call_id", "attempt", "heartbeat_at", "heartbeat_details")
        )
        for call_id, attempt, beat_at, details in beats:  # the latest attempt's last
            task = retries[call_id]
            if attempt < task.attempt:
                task.heartbeat_at, task.heartbeat_details = beat_at, details

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
        # Only what changed: a full save would store the offloaded input again.
        record.save(update_fields=["status", "attempts", "last_error", "updated_at"])
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
                failure_for_log(action.failure),
                extra=log_context(inst, step=record.step or record.activity),
            )
            transaction.on_commit(
                lambda: compensation_failed.send(CompensationRecord, record=record, instance=inst)
            )
        elif inst.attention_reason.startswith("compensation"):
            inst.needs_attention, inst.attention_reason = False, ""

    def _upsert_search_attributes(self, action: act.UpsertSearchAttributes) -> None:
        # Its own UPDATE (the episode's saves only its usual fields): the row is locked by
        # this episode, and most episodes set no attributes.
        inst = self.instance
        inst.search_attributes = merge(inst.search_attributes or {}, action.attributes)
        Instance.objects.filter(pk=inst.pk).update(search_attributes=inst.search_attributes)

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
            title=action.title,
            summary=action.summary,
            reason_required=action.reason_required,
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
        cancel_outstanding(self.instance, self.batch)
        notify_parent(self.instance, action)

    def _terminated(self, action: act.TerminateOrchestration) -> None:
        cancel_outstanding(self.instance, self.batch)
        notify_parent(self.instance, action)

    def _continue_as_new(self, action: act.ContinueAsNew) -> None:
        inst = self.instance
        cancel_outstanding(inst)
        old_execution = inst.execution_id
        # Keep the just-ended execution for inspection; older ones go (bounded history),
        # with their offloaded objects; so does the replaced input's (after commit).
        dropped = HistoryEvent.objects.filter(instance=inst).exclude(execution_id=old_execution)
        offload.delete_objects_of(dropped)
        dropped.delete()
        offload.delete_objects_of(Instance.objects.filter(pk=inst.pk), ["input"])
        inst.execution_id = new_execution_id()
        inst.generation += 1
        inst.history_length = 0
        inst.status = InstanceStatus.RUNNING
        inst.input = action.input
        parent_id = inst.parent.instance_id if inst.parent_id else None
        inst.trace_context = current_context()
        started = ev.ExecutionStarted(
            inst.name,
            inst.version,
            action.input,
            parent_id,
            inst.parent_task_id,
            inst.trace_context,
            # The row keeps the attributes across executions; the new one starts from them.
            search_attributes=dict(inst.search_attributes or {}) or None,
        )
        for event in (started, *action.carryover_events):
            deliver(inst, event, execution_id=inst.execution_id, wake=False)
        wake_orchestration(inst.pk, inst.task_hub)
        self.continued = True


def _duration(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


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


def cancel_outstanding(instance: Instance, batch: StatementBatch | None = None) -> None:
    """Outstanding tasks are not started; pending timers never fire.

    Running tasks are cancelled too: their activity learns it at its next heartbeat
    write (``ctx.heartbeat()`` raises ActivityCancelled, ``ctx.is_cancelled``), and its
    result, if it still returns one, is ignored (outcomes are recorded only for RUNNING
    tasks). See docs/architecture.md, "Heartbeats, timeouts and cancellation".

    With ``batch`` (a finishing episode's) the three UPDATEs go in its round trip, ahead
    of the episode's new tasks (added later), which stay scheduled as before.
    """
    with sending(batch) as adding:
        for update in _CANCEL_OUTSTANDING:
            update.add(instance.pk, adding)


_CANCEL_OUTSTANDING = (
    CompiledUpdate(
        lambda pk: ActivityTask.objects.filter(instance_id=pk).open(),
        {"status": TaskStatus.CANCELLED, "lease_expires_at": None},
    ),
    CompiledUpdate(lambda pk: Timer.objects.filter(instance_id=pk, fired=False), {"fired": True}),
    CompiledUpdate(
        lambda pk: ApprovalRequest.objects.filter(instance_id=pk, status=ApprovalStatus.PENDING),
        {"status": ApprovalStatus.CANCELLED},
    ),
)
