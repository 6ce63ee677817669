"""DurableClient: the one entry point for the REST API, UI, admin, CLI and tests."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from . import recovery
from .access import (
    OPERATE,
    PAYLOAD_COLUMNS,
    VIEW,
    may_operate,
    may_see_every_instance,
    may_see_payloads,
    redacted,
)
from .approval_client import ApprovalOperations
from .bulk_client import BulkOperations
from .compiled import CompiledQuery
from .conf import conf
from .engine import FailureDetails, UnknownOrchestratorError, default_registry
from .engine import events as ev
from .engine.errors import (
    ClientError,
    FinishedInstanceExists,
    InstanceExists,
    InstanceFinished,
    InstanceNotFound,
    InvalidInput,
    InvalidState,
    NotAllowed,
    PayloadError,
)
from .engine.registry import OrchestratorDef, Registry
from .entities.client import EntityOperations
from .inbox import create_instance, deliver
from .listing import ATTRIBUTE_PREFIX, COUNT_CAP, SORT_CHOICES, attribute_problems
from .models import (
    AuditEntry,
    CompensationRecord,
    ExternalEvent,
    HistoryEvent,
    Instance,
)
from .query_client import QueryOperations
from .recovery import terminate_instance
from .rules import (
    MAX_NOTE_LENGTH,
    MAX_REASON_LENGTH,
    check_business_key,
    check_event_name,
    check_instance_id,
    check_payload,
    check_text,
)
from .runtime import completions
from .runtime.dispatch import wake_orchestration
from .schedules.client import ScheduleOperations
from .signals import notify_changed
from .states import EventResult, InstanceState, Page, state_of
from .statuses import (
    TERMINAL,
    CompensationStatus,
    EventOutcome,
    InstanceStatus,
)
from .tracing import traced_start


def _known(status: str, choices: Any, what: str) -> str:
    """``status`` if it is one of ``choices`` (TextChoices), else a clear InvalidInput."""
    if status not in choices.values:
        raise InvalidInput(
            f"Unknown {what} status {status!r}; use one of {', '.join(choices.values)}."
        )
    return status


def _reason(reason: Any, what: str = "reason", limit: int = MAX_REASON_LENGTH) -> str:
    """An operator's reason (or note, or comment), checked before anything changes: it goes
    into the audit log and history, where NUL or a lone surrogate would be a database error.
    None means none."""
    return check_text("" if reason is None else reason, what, limit)


class DurableClient(
    QueryOperations, ApprovalOperations, BulkOperations, ScheduleOperations, EntityOperations
):
    """Start, inspect and manage orchestration instances of one task hub.

    Example::

        client = DurableClient()
        iid = client.start("provision_customer", {"name": "Ada", "email": "ada@example.com"})
        state = client.wait_for_completion(iid, timeout=30)
        print(state.status, state.output)
    """

    def __init__(self, registry: Registry | None = None, hub: str | None = None) -> None:
        self.registry = registry or default_registry
        self.hub = hub or conf.TASK_HUB

    # -- validation (the rules are workflows.rules, shared with the API, UI and CLI) --
    def _check_id(self, instance_id: Any, what: str = "instance id") -> str:
        return check_instance_id(instance_id, what)

    def _check_payload(self, value: Any, what: str) -> Any:
        check_payload(value, what, conf.MAX_PAYLOAD_BYTES)
        return value

    def _typed_input(self, definition: OrchestratorDef, value: Any) -> Any:
        """A start input in its stored JSON form (a dataclass, datetime... converted),
        checked against the orchestrator's input hint: a bad field is a 400 naming it."""
        types = self.registry.payload_types("orchestrator", definition.name, definition.version)
        return self._stored_form(value, "input", types.input)

    def _stored_form(self, value: Any, what: str, hint: Any = Any) -> Any:
        try:
            return self.registry.converter.encode(value, what, hint)
        except PayloadError as exc:
            raise InvalidInput(str(exc)) from None

    def _get(self, instance_id: str, lock: bool = False) -> Instance:
        self._check_id(instance_id)
        if lock:
            qs = Instance.objects.filter(task_hub=self.hub, instance_id=instance_id)
            qs = qs.select_for_update(of=("self",), no_key=True)  # as episodes take it
            instance = qs.select_related("parent").first()
        else:  # every status read: compiled once per hub (a sub-orchestration's parent
            # row is read when asked for)
            instance = _by_id(self.hub).first(instance_id)
        if instance is None:
            raise InstanceNotFound(instance_id)
        return instance

    def _audit(
        self, instance: Instance | None, action: str, by: Any, note: str = "", **detail: Any
    ) -> None:
        user = by if getattr(by, "pk", None) else None
        AuditEntry.objects.create(
            instance=instance,
            # A purge has no instance row left, only the id it passes as instance_ref.
            instance_ref=instance.instance_id if instance else str(detail.pop("instance_ref", "")),
            user=user,
            actor=str(by) if by is not None else "system",
            action=action,
            note=note,
            detail=detail,
        )

    # -- start ------------------------------------------------------------------
    def start(
        self,
        name: str,
        input: Any = None,
        instance_id: str | None = None,
        version: int | None = None,
        business_key: str | None = None,
        *,
        by: Any = None,
        replace: bool = False,
    ) -> str:
        """Start an orchestration; returns its instance id (generated when not given).

        ``by`` is who starts it: a user (API, UI), a text actor such as ``"cli"``, or None
        for code in this process. A start by someone is audited (``start``).

        The id of an active instance is refused (InstanceExists). The id of a finished one
        is refused too (FinishedInstanceExists): starting under it deletes that instance,
        its input, history and business key. Only ``replace=True`` does that, and only
        when ``by`` may operate instances (``workflows.operate_instance``; None and text
        actors are code here, trusted). The rule is checked under the row lock, so an
        instance finishing meanwhile cannot slip through; each replacement is audited
        (``replace``, with the replaced execution id).

        ``input`` may hold typed values (dataclasses, datetimes, Decimal...: README
        "Payloads"): stored as JSON, checked against the orchestrator's input hint first
        (InvalidInput naming the bad field).

        Example::

            client.start("order", {"sku": "A-1"}, instance_id="order-7", by=request.user)
            client.start("order", {"sku": "A-1"}, instance_id="order-7", by=operator,
                         replace=True)  # order-7 had finished
        """
        return self._start(name, input, instance_id, version, business_key, by, replace)

    @traced_start  # the trace of the instance starts here (workflows/tracing.py)
    def _start(
        self,
        name: str,
        input: Any,
        instance_id: str | None,
        version: int | None,
        business_key: str | None,
        by: Any,
        replace: bool,
        action: str = "",
        note: str = "",
    ) -> str:
        """``start``; ``action`` names the audit entry of a replacement ("restart", whose
        callers checked the operate permission already)."""
        definition = self.registry.get_orchestrator(name, version)
        input = self._check_payload(self._typed_input(definition, input), "input")
        generated = instance_id is None
        instance_id = _new_id() if generated else self._check_id(instance_id)
        business_key = check_business_key(business_key or "")
        if not isinstance(replace, bool):
            raise InvalidInput("replace must be true or false.")
        # A fresh uuid4 names nothing yet (no lookup) and no audit entry is due: the
        # instance and its first message are one statement (inbox.create_instance), atomic
        # by itself; no BEGIN round trip for it. Any other start is a transaction.
        block = None if generated and by is None else transaction.atomic()
        with block or nullcontext():
            existing = (
                None  # a fresh uuid4 names nothing yet: no lookup (one round trip less)
                if generated
                else Instance.objects.select_for_update()
                .filter(task_hub=self.hub, instance_id=instance_id)
                .first()
            )
            replaced: dict[str, Any] = {}
            if existing is not None:
                if existing.status not in TERMINAL:
                    raise InstanceExists(instance_id, existing.status)
                if not replace:
                    raise FinishedInstanceExists(instance_id, existing.status)
                if not action and not may_operate(by):
                    raise NotAllowed(
                        f"Replacing the finished instance {instance_id!r} deletes it and its "
                        f"history: that needs the permission workflows.{OPERATE}. Ask an "
                        "operator, or start under another id."
                    )
                replaced = {
                    "replaced_execution_id": existing.execution_id,
                    "replaced_status": existing.status,
                }
                existing.delete()
            try:
                created = create_instance(
                    hub=self.hub,
                    instance_id=instance_id,
                    name=definition.name,
                    version=definition.version,
                    input=input,
                    business_key=business_key,
                    # Nothing more to write in this start's transaction (no audit entry):
                    # its COMMIT goes along (when this block is the outermost one).
                    commit=block if not replaced and by is None else None,
                )
            except IntegrityError:
                raise InstanceExists(instance_id, "pending") from None
            if replaced:  # always audited: the old instance's data is gone
                self._audit(created, action or "replace", by, note, **replaced)
            elif by is not None:  # code in this process starts unaudited (no one to name)
                started = {"name": definition.name, "version": definition.version}
                self._audit(created, "start", by, note, **started)
        return instance_id

    # -- read ---------------------------------------------------------------------
    # ``user`` is who reads (a web user): the instance must be theirs to see, and what
    # they see is redacted(). None is code in this process: everything, unchecked.
    def may_view(self, user: Any, instance_id: str) -> bool:
        """Console viewers see every instance; other signed-in users those that ask one of
        their groups for a decision (to see what they decide)."""
        if may_see_every_instance(user):
            return True
        if not getattr(user, "is_authenticated", False):
            return False
        try:
            return self.approvals(user=user, instance_id=instance_id).exists()
        except ClientError:  # a malformed id: nothing to see
            return False

    def _check_view(self, user: Any, instance_id: str) -> None:
        """Before looking the id up, so the refusal does not tell whether it exists."""
        if user is not None and not self.may_view(user, instance_id):
            raise NotAllowed(
                f"You may not see instance {instance_id!r}: that needs the permission "
                f"workflows.{VIEW}, or an approval request of it for one of your groups."
            )

    def get_status(
        self, instance_id: str, history: bool = False, *, user: Any = None
    ) -> InstanceState:
        """One instance; with ``history`` its current execution's events.

        Example::

            client.get_status("order-7", user=request.user)  # NotAllowed, or redacted
        """
        self._check_view(user, instance_id)
        instance = self._get(instance_id)
        rows = None
        if history:
            rows = list(
                HistoryEvent.objects.filter(instance=instance, execution_id=instance.execution_id)
                .order_by("seq")
                .values("seq", "kind", "payload", "timestamp")
            )
        state = state_of(instance, rows)
        return state if user is None else redacted(state, user)

    def wait_for_completion(
        self, instance_id: str, timeout: float = 30.0, poll: float = 0.05, *, user: Any = None
    ) -> InstanceState:
        """The state as soon as it finished (woken by completion notifications; polled every
        ``poll`` s without: runtime/completions.py); TimeoutError after ``timeout`` s.

        Example: ``client.wait_for_completion(client.start("order", {"id": 7}), timeout=10)``
        """
        self._check_view(user, instance_id)
        first = True

        def read() -> str | InstanceState:
            # The first look (right after a start, usually still running) reads only the
            # status; the reads after a wake-up read the whole state at once.
            nonlocal first
            if first:
                first = False
                status = self._status(instance_id)
                if status not in TERMINAL:
                    return status
            return self.get_status(instance_id, user=user)

        done = lambda seen: not isinstance(seen, str) and seen.is_finished  # noqa: E731
        seen, finished = completions.wait_until(instance_id, self.hub, read, done, timeout, poll)
        if not finished:
            status = seen if isinstance(seen, str) else seen.status
            raise TimeoutError(f"Instance {instance_id!r} is still {status} after {timeout} s.")
        return seen

    def _status(self, instance_id: str) -> str:
        self._check_id(instance_id)
        status = (
            Instance.objects.filter(task_hub=self.hub, instance_id=instance_id)
            .values_list("status", flat=True)
            .first()
        )
        if status is None:
            raise InstanceNotFound(instance_id)
        return status

    # -- events -----------------------------------------------------------------------
    def raise_event(
        self,
        instance_id: str,
        name: str,
        data: Any = None,
        event_id: str | None = None,
        sender: str = "",
    ) -> EventResult:
        """Deliver an external event; a repeated ``event_id`` changes nothing.

        ``data`` may be typed (stored as JSON): the orchestrator's
        ``wait_for_external_event(name, as_type=...)`` rebuilds it.
        """
        check_event_name(name)
        if event_id is not None:
            self._check_id(event_id, "event id")
        data = self._check_payload(self._stored_form(data, "event data"), "event data")
        with transaction.atomic():
            instance = self._get(instance_id, lock=True)
            if event_id is not None:
                first = ExternalEvent.objects.filter(instance=instance, event_id=event_id).first()
                if first is not None:
                    return EventResult(EventOutcome.DUPLICATE, event_id, first.outcome)
            if instance.status in TERMINAL:
                raise InstanceFinished(instance_id, instance.status, f"deliver event {name!r}")
            ExternalEvent.objects.create(
                instance=instance,
                name=name,
                event_id=event_id,
                data=data,
                sender=str(sender)[:200],
                outcome=EventOutcome.DELIVERED,
            )
            dedup = f"event:{event_id}" if event_id else None
            deliver(instance, ev.EventRaised(name, data, event_id), dedup_key=dedup)
        return EventResult(EventOutcome.DELIVERED, event_id, EventOutcome.DELIVERED)

    # -- management ---------------------------------------------------------------------
    def terminate(self, instance_id: str, reason: str = "", by: Any = None) -> None:
        """End an active instance (and its sub-orchestrations); outstanding work is cancelled."""
        reason = _reason(reason)
        with transaction.atomic():
            instance = self._get(instance_id, lock=True)
            if instance.status in TERMINAL:
                raise InstanceFinished(instance_id, instance.status, "terminate it")
            terminate_instance(instance, reason or "terminated by an operator")
            self._audit(instance, "terminate", by, reason)

    def suspend(self, instance_id: str, reason: str = "", by: Any = None) -> None:
        """Pause an instance: events keep arriving but stay buffered until resume."""
        reason = _reason(reason)
        with transaction.atomic():
            instance = self._get(instance_id, lock=True)
            if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.PENDING):
                raise InvalidState(
                    f"Instance {instance_id!r} is {instance.status}; only a pending or running "
                    "instance can be suspended."
                )
            instance.status = InstanceStatus.SUSPENDED
            instance.save(update_fields=["status", "updated_at"])
            notify_changed(instance)
            self._audit(instance, "suspend", by, reason)

    def resume(self, instance_id: str, reason: str = "", by: Any = None) -> None:
        """Resume a suspended instance and apply what arrived meanwhile."""
        reason = _reason(reason)
        with transaction.atomic():
            instance = self._get(instance_id, lock=True)
            if instance.status != InstanceStatus.SUSPENDED:
                raise InvalidState(
                    f"Instance {instance_id!r} is {instance.status}, not suspended; "
                    "nothing to resume."
                )
            started = instance.history_length > 0
            instance.status = InstanceStatus.RUNNING if started else InstanceStatus.PENDING
            instance.save(update_fields=["status", "updated_at"])
            notify_changed(instance)
            wake_orchestration(instance.pk, instance.task_hub)
            self._audit(instance, "resume", by, reason)

    def history(
        self, instance_id: str, after_seq: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """One page of the current execution's history: events with seq > ``after_seq``."""
        if not isinstance(after_seq, int) or after_seq < 0:
            raise InvalidInput("after_seq must be a non-negative integer.")
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput("limit must be an integer from 1 to 1000.")
        instance = self._get(instance_id)
        return list(
            HistoryEvent.objects.filter(
                instance=instance, execution_id=instance.execution_id, seq__gt=after_seq
            )
            .order_by("seq")
            .values("seq", "kind", "payload", "timestamp")[:limit]
        )

    def restart(self, instance_id: str, by: Any = None, reason: str = "") -> str:
        """Start a finished instance again from the beginning with its original input.

        An operator action like terminate: callers check workflows.operate_instance (the
        API, UI and admin do) and nothing about the instance changes that rule, so there is
        no race to close here. Audited as ``restart`` with the replaced execution id.
        """
        reason = _reason(reason)
        instance = self._get(instance_id)
        if instance.status not in TERMINAL:
            raise InvalidState(
                f"Instance {instance_id!r} is {instance.status}; terminate it before restarting."
            )
        return self._start(
            instance.name,
            instance.input,
            instance_id,
            instance.version,
            instance.business_key,
            by,
            replace=True,
            action="restart",
            note=reason,
        )

    def purge(
        self,
        instance_id: str | None = None,
        *,
        finished_before: datetime | None = None,
        by: Any = None,
    ) -> int:
        """Delete a finished instance (or all finished before a time) with its history."""
        if (instance_id is None) == (finished_before is None):
            raise InvalidInput("purge needs either an instance id or finished_before, not both.")
        with transaction.atomic():
            if instance_id is not None:
                instance = self._get(instance_id, lock=True)
                if instance.status not in TERMINAL:
                    raise InvalidState(
                        f"Instance {instance_id!r} is {instance.status}; only finished "
                        "instances can be purged. Terminate it first."
                    )
                instance.delete()
                self._audit(None, "purge", by, instance_ref=instance_id)
                return 1
            qs = Instance.objects.filter(
                task_hub=self.hub, status__in=TERMINAL, completed_at__lt=finished_before
            )
            count = qs.count()
            qs.delete()
            self._audit(None, "purge", by, finished_before=finished_before.isoformat(), count=count)
            return count

    def orchestrator_names(self) -> list[str]:
        return self.registry.orchestrator_names()

    # -- recovery ----------------------------------------------------------------------
    def rewind(self, instance_id: str, reason: str = "", by: Any = None) -> None:
        """Resume a failed instance from its point of failure, re-running the failed tasks.

        Completed results are kept. Refused (InvalidState) when the failure was not a
        task failure at the last step, e.g. the orchestrator code itself raised.
        """
        reason = _reason(reason)
        self._get(instance_id)  # InstanceNotFound for an unknown id
        recovery.rewind(instance_id, self.hub, by, reason)

    def retry_episode(self, instance_id: str, reason: str = "", by: Any = None) -> None:
        """Run a stuck instance's pending episode again (after deploying a fix)."""
        reason = _reason(reason)
        self._get(instance_id)
        recovery.retry_episode(instance_id, self.hub, by, reason)

    def compensations(
        self, instance_id: str | None = None, status: str | None = None
    ) -> QuerySet[CompensationRecord]:
        """Compensation records, failed ones first, filtered by instance and status."""
        qs = CompensationRecord.objects.filter(instance__task_hub=self.hub).select_related(
            "instance", "resolved_by"
        )
        if instance_id is not None:
            qs = qs.filter(instance__instance_id=self._check_id(instance_id))
        if status is not None:
            qs = qs.filter(status=_known(status, CompensationStatus, "compensation"))
        return qs.order_by("-updated_at", "pk")

    def retry_compensation(self, record_id: int, by: Any = None, note: str = "") -> None:
        """Run a failed compensation again."""
        note = _reason(note, "note", MAX_NOTE_LENGTH)
        recovery.decide_compensation(record_id, "retry", by, note, self.hub)

    def resolve_compensation(self, record_id: int, by: Any, note: str) -> None:
        """Mark a failed compensation as done by hand (a note saying what was done)."""
        note = _reason(note, "note", MAX_NOTE_LENGTH)
        recovery.decide_compensation(record_id, "resolve", by, note, self.hub)

    def skip_compensation(self, record_id: int, by: Any, note: str) -> None:
        """Give up a failed compensation on purpose (a note saying why)."""
        note = _reason(note, "note", MAX_NOTE_LENGTH)
        recovery.decide_compensation(record_id, "skip", by, note, self.hub)


_BY_ID: dict[str, CompiledQuery] = {}


def _by_id(hub: str) -> CompiledQuery:
    """The hub's instance by id, as SQL built once; (task_hub, instance_id) is unique."""
    query = _BY_ID.get(hub)
    if query is None:
        query = _BY_ID[hub] = CompiledQuery(
            Instance, lambda iid: Instance.objects.filter(task_hub=hub, instance_id=iid)[:1]
        )
    return query


def _new_id() -> str:
    return uuid.uuid4().hex


__all__ = [
    "ATTRIBUTE_PREFIX",
    "COUNT_CAP",
    "PAYLOAD_COLUMNS",
    "SORT_CHOICES",
    "attribute_problems",
    "ClientError",
    "DurableClient",
    "EventResult",
    "FailureDetails",
    "FinishedInstanceExists",
    "InstanceExists",
    "InstanceFinished",
    "InstanceNotFound",
    "InstanceState",
    "InvalidInput",
    "InvalidState",
    "NotAllowed",
    "Page",
    "UnknownOrchestratorError",
    "may_operate",
    "may_see_every_instance",
    "may_see_payloads",
    "redacted",
]
