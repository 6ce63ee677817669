"""Every kind of step an orchestrator takes (activity, timer, sub-orchestration, marker,
entity call, ...): how it is recorded in history, checked on replay, described in
errors, and how its task ends. The executor looks steps up here; a new kind is one
entry of :data:`STEP_KINDS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import actions as act
from . import events as ev
from .payloads import round_trip


def _stored_result(event: Any) -> Any:
    # Decoded as it is stored: the first run sees exactly what a replay will see.
    return round_trip(event.result)


@dataclass(frozen=True)
class StepKind:
    """How one kind of step (a :class:`~workflows.engine.actions.StepAction`) is
    recorded, checked on replay, described, and how its task ends.

    The action and its history event have the same fields (``record`` copies them),
    so one ``describe`` serves both in :class:`NonDeterminismError` messages.
    """

    recorded_as: type[ev.HistoryEvent]
    describe: Callable[[Any], str]
    # What replay compares: changing these in code breaks recorded instances, while
    # e.g. a changed activity input or timer time does not (the recorded one wins).
    same: tuple[str, ...] = ("name",)
    completed_by: type[ev.HistoryEvent] | None = None
    result_of: Callable[[Any], Any] = _stored_result
    failed_by: type[ev.HistoryEvent] | None = None

    def record(self, action: act.StepAction) -> ev.HistoryEvent:
        """The history event recording ``action``."""
        fields = dataclasses.fields(self.recorded_as)
        return self.recorded_as(**{f.name: getattr(action, f.name) for f in fields})

    def matches(self, event: ev.HistoryEvent, action: act.StepAction) -> bool:
        """Whether recorded ``event`` is the step ``action`` the code made again."""
        return all(getattr(event, name) == getattr(action, name) for name in self.same)


# Every kind of step, in one place: a new kind is one entry here (plus its action
# and event classes, and the runtime's effect of the action).
STEP_KINDS: dict[type[act.StepAction], StepKind] = {
    act.ScheduleActivity: StepKind(
        ev.ActivityScheduled,
        lambda x: f"activity {x.name!r}",
        completed_by=ev.ActivityCompleted,
        failed_by=ev.ActivityFailedEvent,
    ),
    act.CreateTimer: StepKind(
        ev.TimerCreated,
        lambda x: f"a timer at {x.fire_at.isoformat()}",
        same=(),
        completed_by=ev.TimerFired,
        result_of=lambda e: e.fire_at,
    ),
    act.StartSubOrchestration: StepKind(
        ev.SubOrchestrationCreated,
        lambda x: f"sub-orchestration {x.name!r}",
        completed_by=ev.SubOrchestrationCompleted,
        failed_by=ev.SubOrchestrationFailedEvent,
    ),
    act.RecordMarker: StepKind(ev.MarkerRecorded, lambda x: f"patch marker {x.name!r}"),
    act.RegisterCompensation: StepKind(
        ev.CompensationRegistered, lambda x: f"compensation {x.name!r} registered"
    ),
    act.RequestApproval: StepKind(ev.ApprovalRequested, lambda x: f"approval request {x.name!r}"),
    act.CallEntity: StepKind(
        ev.EntityCalled,
        lambda x: f"entity call {x.operation!r} on {x.entity}",
        same=("entity", "operation"),
        completed_by=ev.EntityCallCompleted,
        failed_by=ev.EntityCallFailed,
    ),
    act.SignalEntity: StepKind(
        ev.EntitySignaled,
        lambda x: f"entity signal {x.operation!r} to {x.entity}",
        same=("entity", "operation"),
    ),
    act.LockEntity: StepKind(
        ev.EntityLockRequested,
        lambda x: f"a lock on {x.entity}",
        same=("entity",),
        completed_by=ev.EntityLockGranted,
        result_of=lambda e: None,
    ),
    act.ReleaseLocks: StepKind(
        ev.EntityLocksReleased,
        lambda x: f"lock release of {', '.join(x.entities)}",
        same=(),
    ),
    # Values may change between deployments (the recorded ones stay on the instance).
    act.UpsertSearchAttributes: StepKind(
        ev.SearchAttributesUpserted,
        lambda x: f"search attributes {', '.join(sorted(x.attributes))}",
        same=(),
    ),
}

# Derived: replay looks steps up by the event that recorded them, or that completed them.
STEP_OF_EVENT: dict[type[ev.HistoryEvent], tuple[type[act.StepAction], StepKind]] = {
    kind.recorded_as: (action_type, kind) for action_type, kind in STEP_KINDS.items()
}
STEP_COMPLETED_BY: dict[type[ev.HistoryEvent], StepKind] = {
    kind.completed_by: kind for kind in STEP_KINDS.values() if kind.completed_by is not None
}
STEP_FAILED_BY: dict[type[ev.HistoryEvent], StepKind] = {
    kind.failed_by: kind for kind in STEP_KINDS.values() if kind.failed_by is not None
}


def describe_event(event: ev.HistoryEvent) -> str:
    step = STEP_OF_EVENT.get(type(event))
    if step is not None:
        return step[1].describe(event)
    task_id = ev.task_id_of(event)
    return f"{type(event).__name__}" + (f" for task {task_id}" if task_id is not None else "")


def describe_action(action: act.Action | None) -> str:
    if action is None:
        return "nothing at this step"
    return STEP_KINDS[type(action)].describe(action)
