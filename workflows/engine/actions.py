"""Actions: what one episode decided, for the runtime to carry out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .events import EventRaised
from .failures import FailureDetails


@dataclass(frozen=True)
class Action:
    pass


@dataclass(frozen=True)
class StepAction(Action):
    """A decision that takes the next step number (``task_id``) and is recorded in history.

    Replay matches each recorded step to the action the code makes at that number.
    """

    task_id: int


@dataclass(frozen=True)
class ScheduleActivity(StepAction):
    name: str
    input: Any = None
    attempt: int = 1
    call_id: int = 0  # task id of the first attempt; the idempotency key uses it
    idempotency_key: str | None = None  # set for compensations: their compensation id
    # Seconds (engine/timeouts.py), call's over decorator's; None: no limit. Not compared on
    # replay (histories recorded before they existed have none).
    start_to_close: float | None = None
    heartbeat_timeout: float | None = None


@dataclass(frozen=True)
class CreateTimer(StepAction):
    fire_at: datetime
    purpose: str = "timer"


@dataclass(frozen=True)
class StartSubOrchestration(StepAction):
    name: str
    instance_id: str
    version: int | None = None
    input: Any = None


@dataclass(frozen=True)
class RecordMarker(StepAction):
    name: str


@dataclass(frozen=True)
class UpsertSearchAttributes(StepAction):
    """``ctx.upsert_search_attributes``: attributes to merge into the instance's (a None
    value removes one); recorded, so the history shows when each was set."""

    attributes: dict[str, Any]


@dataclass(frozen=True)
class SetCustomStatus(Action):
    value: Any


@dataclass(frozen=True)
class CompleteOrchestration(Action):
    output: Any = None


@dataclass(frozen=True)
class FailOrchestration(Action):
    failure: FailureDetails


@dataclass(frozen=True)
class ContinueAsNew(Action):
    input: Any = None
    carryover_events: tuple[EventRaised, ...] = ()


@dataclass(frozen=True)
class TerminateOrchestration(Action):
    reason: str = ""


@dataclass(frozen=True)
class RegisterCompensation(StepAction):
    name: str
    input: Any = None
    step: str = ""
    order: int = 0


@dataclass(frozen=True)
class UpdateCompensation(Action):
    """A compensation record changed state (emitted live only, never on replay)."""

    task_id: int
    status: str
    failure: FailureDetails | None = None
    attempts: int = 0


@dataclass(frozen=True)
class RequestApproval(StepAction):
    name: str
    assignees: str
    details: Any = None
    deadline: datetime | None = None
    title: str = ""  # what the approvers' card says, instead of the request's name
    summary: Any = None  # {label: value}: the few fields the card shows
    reason_required: bool = False  # rejecting needs a comment


@dataclass(frozen=True)
class UpdateApproval(Action):
    """An approval request ended without a decision (expired), emitted live only."""

    task_id: int
    status: str


@dataclass(frozen=True)
class CallEntity(StepAction):
    """Send a two-way operation to entity ``entity`` (``@name@key``); the answer comes back
    as ``EntityCallCompleted`` or ``EntityCallFailed``."""

    entity: str
    operation: str
    input: Any = None


@dataclass(frozen=True)
class SignalEntity(StepAction):
    """Send a one-way operation to an entity."""

    entity: str
    operation: str
    input: Any = None


@dataclass(frozen=True)
class LockEntity(StepAction):
    """Ask one entity of a lock set for its lock; ``EntityLockGranted`` answers."""

    entity: str


@dataclass(frozen=True)
class ReleaseLocks(StepAction):
    """Release held entity locks: ``lock.release()`` (a step, ordered with the calls
    around it), or the end of the orchestration (task id 0, not recorded)."""

    entities: tuple[str, ...]
