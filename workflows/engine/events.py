"""History events: what happened to an orchestration, as frozen dataclasses.

Each event class has a ``kind`` (its :class:`EventType`); ``event_to_payload`` and
``event_from_payload`` turn events into JSON-ready dicts and back for storage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from .failures import FailureDetails


class EventType(StrEnum):
    ORCHESTRATOR_STARTED = "orchestrator_started"
    EXECUTION_STARTED = "execution_started"
    EXECUTION_COMPLETED = "execution_completed"
    EXECUTION_FAILED = "execution_failed"
    EXECUTION_TERMINATED = "execution_terminated"
    CONTINUED_AS_NEW = "continued_as_new"
    ACTIVITY_SCHEDULED = "activity_scheduled"
    ACTIVITY_COMPLETED = "activity_completed"
    ACTIVITY_FAILED = "activity_failed"
    TIMER_CREATED = "timer_created"
    TIMER_FIRED = "timer_fired"
    SUB_ORCHESTRATION_CREATED = "sub_orchestration_created"
    SUB_ORCHESTRATION_COMPLETED = "sub_orchestration_completed"
    SUB_ORCHESTRATION_FAILED = "sub_orchestration_failed"
    EVENT_RAISED = "event_raised"
    MARKER_RECORDED = "marker_recorded"
    COMPENSATION_REGISTERED = "compensation_registered"
    APPROVAL_REQUESTED = "approval_requested"
    ENTITY_CALLED = "entity_called"
    ENTITY_CALL_COMPLETED = "entity_call_completed"
    ENTITY_CALL_FAILED = "entity_call_failed"
    ENTITY_SIGNALED = "entity_signaled"
    ENTITY_LOCK_REQUESTED = "entity_lock_requested"
    ENTITY_LOCK_GRANTED = "entity_lock_granted"
    ENTITY_LOCKS_RELEASED = "entity_locks_released"
    SEARCH_ATTRIBUTES_UPSERTED = "search_attributes_upserted"


@dataclass(frozen=True)
class HistoryEvent:
    kind: ClassVar[EventType]


@dataclass(frozen=True)
class OrchestratorStarted(HistoryEvent):
    """Opens every episode; its timestamp is the episode's deterministic 'now'."""

    kind: ClassVar[EventType] = EventType.ORCHESTRATOR_STARTED
    timestamp: datetime


@dataclass(frozen=True)
class ExecutionStarted(HistoryEvent):
    kind: ClassVar[EventType] = EventType.EXECUTION_STARTED
    name: str
    version: int
    input: Any = None
    parent_instance_id: str | None = None
    parent_task_id: int | None = None
    # W3C trace context of the start (traceparent, tracestate), when tracing was on
    # (workflows/tracing.py); not used by the engine.
    trace_context: dict[str, str] | None = None
    # 1: this execution's payloads are typed by hints (engine/converter.py). Histories
    # recorded before typed payloads lack the field (read back as None): they replay with
    # plain JSON throughout, as they ran.
    converter: int | None = 1
    # The search attributes kept from the execution before (continue-as-new), so that
    # ctx.search_attributes and the limit count them; None (and older histories): none.
    search_attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class ExecutionCompleted(HistoryEvent):
    kind: ClassVar[EventType] = EventType.EXECUTION_COMPLETED
    output: Any = None


@dataclass(frozen=True)
class ExecutionFailed(HistoryEvent):
    kind: ClassVar[EventType] = EventType.EXECUTION_FAILED
    failure: FailureDetails


@dataclass(frozen=True)
class ExecutionTerminated(HistoryEvent):
    kind: ClassVar[EventType] = EventType.EXECUTION_TERMINATED
    reason: str = ""


@dataclass(frozen=True)
class ContinuedAsNew(HistoryEvent):
    kind: ClassVar[EventType] = EventType.CONTINUED_AS_NEW
    input: Any = None


@dataclass(frozen=True)
class ActivityScheduled(HistoryEvent):
    kind: ClassVar[EventType] = EventType.ACTIVITY_SCHEDULED
    task_id: int
    name: str
    input: Any = None
    attempt: int = 1
    call_id: int = 0
    idempotency_key: str | None = None
    start_to_close: float | None = None  # seconds; absent from histories before timeouts
    heartbeat_timeout: float | None = None


@dataclass(frozen=True)
class ActivityCompleted(HistoryEvent):
    kind: ClassVar[EventType] = EventType.ACTIVITY_COMPLETED
    task_id: int
    result: Any = None


@dataclass(frozen=True)
class ActivityFailedEvent(HistoryEvent):
    kind: ClassVar[EventType] = EventType.ACTIVITY_FAILED
    task_id: int
    failure: FailureDetails


@dataclass(frozen=True)
class TimerCreated(HistoryEvent):
    kind: ClassVar[EventType] = EventType.TIMER_CREATED
    task_id: int
    fire_at: datetime
    purpose: str = "timer"


@dataclass(frozen=True)
class TimerFired(HistoryEvent):
    kind: ClassVar[EventType] = EventType.TIMER_FIRED
    task_id: int
    fire_at: datetime


@dataclass(frozen=True)
class SubOrchestrationCreated(HistoryEvent):
    kind: ClassVar[EventType] = EventType.SUB_ORCHESTRATION_CREATED
    task_id: int
    name: str
    instance_id: str
    version: int | None = None
    input: Any = None


@dataclass(frozen=True)
class SubOrchestrationCompleted(HistoryEvent):
    kind: ClassVar[EventType] = EventType.SUB_ORCHESTRATION_COMPLETED
    task_id: int
    result: Any = None


@dataclass(frozen=True)
class SubOrchestrationFailedEvent(HistoryEvent):
    kind: ClassVar[EventType] = EventType.SUB_ORCHESTRATION_FAILED
    task_id: int
    failure: FailureDetails


@dataclass(frozen=True)
class EventRaised(HistoryEvent):
    kind: ClassVar[EventType] = EventType.EVENT_RAISED
    name: str
    data: Any = None
    event_id: str | None = None


@dataclass(frozen=True)
class MarkerRecorded(HistoryEvent):
    """A named decision point recorded in history (used by ``ctx.is_patched``)."""

    kind: ClassVar[EventType] = EventType.MARKER_RECORDED
    task_id: int
    name: str


@dataclass(frozen=True)
class CompensationRegistered(HistoryEvent):
    """``saga.add``: an undo step registered after a compensable step succeeded."""

    kind: ClassVar[EventType] = EventType.COMPENSATION_REGISTERED
    task_id: int
    name: str
    input: Any = None
    step: str = ""
    order: int = 0


@dataclass(frozen=True)
class ApprovalRequested(HistoryEvent):
    """``ctx.request_approval``: a human decision asked of a group, with a deadline."""

    kind: ClassVar[EventType] = EventType.APPROVAL_REQUESTED
    task_id: int
    name: str
    assignees: str
    details: Any = None
    deadline: datetime | None = None
    title: str = ""
    summary: Any = None
    reason_required: bool = False


@dataclass(frozen=True)
class EntityCalled(HistoryEvent):
    """``ctx.call_entity``: a two-way operation sent to entity ``@name@key``."""

    kind: ClassVar[EventType] = EventType.ENTITY_CALLED
    task_id: int
    entity: str
    operation: str
    input: Any = None


@dataclass(frozen=True)
class EntityCallCompleted(HistoryEvent):
    kind: ClassVar[EventType] = EventType.ENTITY_CALL_COMPLETED
    task_id: int
    result: Any = None


@dataclass(frozen=True)
class EntityCallFailed(HistoryEvent):
    kind: ClassVar[EventType] = EventType.ENTITY_CALL_FAILED
    task_id: int
    failure: FailureDetails


@dataclass(frozen=True)
class EntitySignaled(HistoryEvent):
    """``ctx.signal_entity``: a one-way operation, sent once (never again on replay)."""

    kind: ClassVar[EventType] = EventType.ENTITY_SIGNALED
    task_id: int
    entity: str
    operation: str
    input: Any = None


@dataclass(frozen=True)
class EntityLockRequested(HistoryEvent):
    """One entity of ``ctx.lock([...])``, asked in sorted order, one after the other."""

    kind: ClassVar[EventType] = EventType.ENTITY_LOCK_REQUESTED
    task_id: int
    entity: str


@dataclass(frozen=True)
class EntityLockGranted(HistoryEvent):
    kind: ClassVar[EventType] = EventType.ENTITY_LOCK_GRANTED
    task_id: int


@dataclass(frozen=True)
class EntityLocksReleased(HistoryEvent):
    """``lock.release()``: the entities take operations from everyone again."""

    kind: ClassVar[EventType] = EventType.ENTITY_LOCKS_RELEASED
    task_id: int
    entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchAttributesUpserted(HistoryEvent):
    """``ctx.upsert_search_attributes``: the attributes merged at this step."""

    kind: ClassVar[EventType] = EventType.SEARCH_ATTRIBUTES_UPSERTED
    task_id: int
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)


EVENT_CLASSES: dict[EventType, type[HistoryEvent]] = {
    cls.kind: cls
    for cls in (
        OrchestratorStarted,
        ExecutionStarted,
        ExecutionCompleted,
        ExecutionFailed,
        ExecutionTerminated,
        ContinuedAsNew,
        ActivityScheduled,
        ActivityCompleted,
        ActivityFailedEvent,
        TimerCreated,
        TimerFired,
        SubOrchestrationCreated,
        SubOrchestrationCompleted,
        SubOrchestrationFailedEvent,
        EventRaised,
        MarkerRecorded,
        CompensationRegistered,
        ApprovalRequested,
        EntityCalled,
        EntityCallCompleted,
        EntityCallFailed,
        EntitySignaled,
        EntityLockRequested,
        EntityLockGranted,
        EntityLocksReleased,
        SearchAttributesUpserted,
    )
}

# Fields whose values are not plain JSON: (encode, decode) per field name.
_CODECS: dict[str, tuple[Any, Any]] = {
    "failure": (FailureDetails.to_dict, FailureDetails.from_dict),
    "timestamp": (datetime.isoformat, datetime.fromisoformat),
    "fire_at": (datetime.isoformat, datetime.fromisoformat),
    "deadline": (datetime.isoformat, datetime.fromisoformat),
    "entities": (list, tuple),
}


# Fields whose absence from a stored payload means "recorded before the field existed",
# which is not the default a new event gets.
_ABSENT_FROM_OLD_HISTORY: dict[str, Any] = {"converter": None}


def event_to_payload(event: HistoryEvent) -> dict[str, Any]:
    """The event's fields as a JSON-ready dict (its kind is stored separately)."""
    payload = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        codec = _CODECS.get(f.name)
        payload[f.name] = codec[0](value) if codec and value is not None else value
    return payload


def event_from_payload(kind: str | EventType, payload: dict[str, Any]) -> HistoryEvent:
    """Rebuild an event from its kind and the dict made by :func:`event_to_payload`."""
    try:
        cls = EVENT_CLASSES[EventType(kind)]
    except ValueError:
        raise ValueError(f"Unknown history event kind {kind!r}.") from None
    names = {f.name for f in dataclasses.fields(cls)}
    args = {}
    for name, value in payload.items():
        if name not in names:
            continue
        codec = _CODECS.get(name)
        args[name] = codec[1](value) if codec and value is not None else value
    for name, value in _ABSENT_FROM_OLD_HISTORY.items():
        if name in names and name not in payload:
            args[name] = value
    return cls(**args)


def task_id_of(event: HistoryEvent) -> int | None:
    return getattr(event, "task_id", None)
