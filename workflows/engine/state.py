"""ExecutionState: the run-time bookkeeping of one execution, behind named operations.

The orchestrator code sees :class:`~workflows.engine.context.OrchestrationContext`;
the executor, sagas and approvals drive this object instead. Keeping the two apart
means the context's public API can only *describe* work, while every change to
step numbers, pending decisions, open tasks and buffered events goes through the
methods below (and their invariants hold in one place).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from . import actions as act
from .errors import (
    ActivityFailed,
    ActivityTimedOut,
    EntityOperationFailed,
    PayloadError,
    SubOrchestrationFailed,
    TaskFailed,
)
from .events import EventRaised, HistoryEvent
from .failures import FailureDetails
from .payloads import round_trip
from .search_attributes import merge
from .tasks import CompletableTask, Task, TimerTask


class EventTask(Task):
    """A wait for an external event named ``name``; completes with the event's data,
    rebuilt by ``decode`` when the wait names a type (engine/converter.py)."""

    def __init__(self, name: str, decode: Callable[[Any], Any] | None = None) -> None:
        super().__init__()
        self.name = name
        self.decode = decode

    def deliver(self, data: Any) -> None:
        value = round_trip(data)
        if self.decode is None:
            self.complete(value)
            return
        try:
            self.complete(self.decode(value))
        except PayloadError as exc:
            # Data from outside that does not fit: raised at the `yield`, catchable.
            self.fail(TaskFailed(str(exc), FailureDetails.from_exception(exc)))


def failure_for(task: CompletableTask, failure: FailureDetails) -> TaskFailed:
    """The error raised in orchestrator code when ``task`` failed with ``failure``."""
    if task.kind == "entity":
        entity, operation = getattr(task, "entity", task.name), getattr(task, "operation", "")
        return EntityOperationFailed(str(entity), operation, failure)
    if task.kind == "sub_orchestration":
        return SubOrchestrationFailed(task.name, task.child_instance_id or "", failure)
    if failure.is_instance_of(ActivityTimedOut):
        return ActivityTimedOut(task.name, failure)
    return ActivityFailed(task.name, failure)


class ExecutionState:
    """What one execution has decided and is waiting for, between and during episodes.

    ``is_replaying`` and ``current_utc_datetime`` are plain fields the executor sets
    (as history is processed); everything else changes only through methods.

    Example::

        state = ExecutionState(now=start)
        timer = state.create_timer(fire_at)      # a pending decision and an open task
        state.take_pending(timer.task_id)        # replay: history recorded that step
        state.resolve(timer.task_id, fire_at)    # TimerFired: the task completes
    """

    def __init__(self, now: datetime = datetime(1970, 1, 1), replaying: bool = False) -> None:
        self.is_replaying = replaying
        self.current_utc_datetime = now
        self._sequence = 0
        self._uuid_counter = 0
        self._custom_status: Any = None
        self._search_attributes: dict[str, Any] = {}
        self._pending: dict[int, act.StepAction] = {}
        self._open: dict[int, CompletableTask] = {}
        self._decoders: dict[int, Callable[[Any], Any]] = {}  # task id -> typed result
        self._recorded: dict[int, HistoryEvent] = {}
        self._waiters: dict[str, deque[EventTask]] = {}
        self._buffer: dict[str, deque[EventRaised]] = {}
        self._live: list[act.Action] = []
        self._continuation: act.ContinueAsNew | None = None
        self._keep_unprocessed_events = True
        self._lock_set: frozenset[Any] = frozenset()  # a ctx.lock's entities, asked or held
        self._locked: tuple[Any, ...] = ()  # the entities whose lock was granted

    # -- step numbers ------------------------------------------------------------
    def next_task_id(self) -> int:
        """Take the next step number; replay expects history to use the same one."""
        self._sequence += 1
        return self._sequence

    @property
    def upcoming_task_id(self) -> int:
        """The number the next step will take (for checks and error messages)."""
        return self._sequence + 1

    def next_uuid_number(self) -> int:
        """Count ``new_uuid`` calls; separate from steps, so uuids do not shift them."""
        self._uuid_counter += 1
        return self._uuid_counter

    # -- decisions -------------------------------------------------------------------
    def schedule(
        self,
        action: act.StepAction,
        task: CompletableTask | None = None,
        decode: Callable[[Any], Any] | None = None,
    ) -> None:
        """Record ``action`` as decided this episode; ``task`` then waits for its outcome.

        ``decode`` turns the stored result into the value the task completes with (a
        typed payload, engine/converter.py); without it the task gets the stored JSON.
        """
        if action.task_id in self._pending or action.task_id in self._open:
            # Two decisions at one step would make replay match the wrong one.
            raise ValueError(f"Step {action.task_id} is already taken.")
        self._pending[action.task_id] = action
        if task is not None:
            self._open[action.task_id] = task
        if decode is not None:
            self._decoders[action.task_id] = decode

    def create_timer(self, fire_at: datetime, purpose: str = "timer") -> TimerTask:
        """Schedule a durable timer at the next step; the task completes when it fires."""
        task_id = self.next_task_id()
        task = TimerTask(task_id, "timer", fire_at.isoformat())
        self.schedule(act.CreateTimer(task_id, fire_at, purpose), task)
        return task

    def take_pending(self, task_id: int) -> act.StepAction | None:
        """Remove the decision at ``task_id``: history already holds it (replay)."""
        return self._pending.pop(task_id, None)

    def first_pending(self) -> act.StepAction | None:
        """The lowest-numbered decision not yet recorded, if any."""
        return self._pending[min(self._pending)] if self._pending else None

    def drain_pending(self) -> list[act.StepAction]:
        """Every decision not yet recorded, in step order; none are left afterwards."""
        actions = [self._pending[task_id] for task_id in sorted(self._pending)]
        self._pending.clear()
        return actions

    # -- history lookups -------------------------------------------------------------
    def remember_recorded(self, events: Iterable[HistoryEvent]) -> None:
        """Index recorded *step* events by task id (``is_patched`` looks ahead in them).

        Pass only events that record a step: a completion shares its step's task id.
        Added to, never replaced: replay may be called again to catch up.
        """
        for event in events:
            task_id = getattr(event, "task_id", None)
            if task_id is not None:
                self._recorded[task_id] = event

    def recorded_at(self, task_id: int) -> HistoryEvent | None:
        """The recorded step event with ``task_id``, if history has one."""
        return self._recorded.get(task_id)

    # -- task outcomes ---------------------------------------------------------------
    def resolve(self, task_id: int, value: Any) -> bool:
        """Complete the open task ``task_id`` with ``value``; False if none waits.

        None waits after a duplicate delivery or for an abandoned task: ignored.
        """
        task = self._open.pop(task_id, None)
        decode = self._decoders.pop(task_id, None)
        if task is None:
            return False
        if decode is not None:
            try:
                value = decode(value)
            except PayloadError as exc:
                # The result no longer fits the type the code expects (the activity's code
                # changed): the call fails where it is awaited, catchable like any failure.
                task.fail(failure_for(task, FailureDetails.from_exception(exc)))
                return True
        task.complete(value)
        return True

    def reject(self, task_id: int, failure: FailureDetails) -> bool:
        """Fail the open task ``task_id`` with the error its kind raises; False if none."""
        task = self._open.pop(task_id, None)
        self._decoders.pop(task_id, None)
        if task is None:
            return False
        task.fail(failure_for(task, failure))
        return True

    def count_open(self, kind: str) -> int:
        """How many tasks of ``kind`` ("activity", "timer", ...) still wait."""
        return sum(1 for task in self._open.values() if task.kind == kind)

    # -- external events -------------------------------------------------------------
    def wait_for_event(self, name: str, decode: Callable[[Any], Any] | None = None) -> EventTask:
        """A task for the next event ``name``: done at once if one is buffered."""
        task = EventTask(name, decode)
        buffered = self._buffer.get(name)
        if buffered:
            # Decoded like a live delivery (deliver_event): the same value either way.
            task.deliver(buffered.popleft().data)
        else:
            self._waiters.setdefault(name, deque()).append(task)
        return task

    def stop_waiting(self, task: EventTask) -> None:
        """Withdraw ``task`` from its event's waiters (its deadline passed).

        The next event of that name then goes to a later wait, or to the buffer.
        """
        waiters = self._waiters.get(task.name)
        if waiters and task in waiters:
            waiters.remove(task)

    def deliver_event(self, event: EventRaised) -> None:
        """Hand ``event`` to its oldest waiter, or buffer it for a later wait."""
        waiters = self._waiters.get(event.name)
        if waiters:
            waiters.popleft().deliver(event.data)
        else:
            self._buffer.setdefault(event.name, deque()).append(event)

    # -- live updates and custom status -----------------------------------------
    def emit_live(self, action: act.Action) -> None:
        """Report a state change to the runtime when it happens, never on replay."""
        if not self.is_replaying:
            self._live.append(action)

    def drain_live_updates(self) -> list[act.Action]:
        """The live updates since the last drain, in order."""
        live, self._live = self._live, []
        return live

    @property
    def custom_status(self) -> Any:
        return self._custom_status

    def set_custom_status(self, value: Any) -> None:
        """Store the (already JSON round-tripped) custom status."""
        self._custom_status = value

    @property
    def search_attributes(self) -> dict[str, Any]:
        return dict(self._search_attributes)

    def carry_search_attributes(self, attributes: dict[str, Any]) -> None:
        """Start from the attributes an earlier execution left (ExecutionStarted, after
        continue-as-new): not a step, nothing to record."""
        self._search_attributes = dict(attributes)

    def upsert_search_attributes(self, attributes: dict[str, Any]) -> None:
        """Record the (checked) attributes as the next step and merge them."""
        self.schedule(act.UpsertSearchAttributes(self.next_task_id(), attributes))
        self._search_attributes = merge(self._search_attributes, attributes)

    # -- entity locks (engine/entity_calls.py) -------------------------------------
    @property
    def lock_set(self) -> frozenset[Any]:
        """The entities of the critical section being entered or held (empty: none)."""
        return self._lock_set

    @property
    def locked_entities(self) -> frozenset[Any]:
        """The entities whose lock this execution holds now."""
        return frozenset(self._locked)

    def begin_lock(self, entities: tuple[Any, ...]) -> None:
        self._lock_set = frozenset(entities)

    def set_locks(self, entities: tuple[Any, ...]) -> None:
        """The granted locks so far; () releases them and ends the critical section."""
        self._locked = tuple(entities)
        if not entities:
            self._lock_set = frozenset()

    # -- continue-as-new ---------------------------------------------------------
    def request_continue_as_new(self, input: Any, keep_unprocessed_events: bool = True) -> None:
        """Remember that this execution ends by restarting with ``input``."""
        self._continuation = act.ContinueAsNew(input)
        self._keep_unprocessed_events = keep_unprocessed_events

    @property
    def continues_as_new(self) -> bool:
        return self._continuation is not None

    def continue_as_new_action(self, late_events: Iterable[HistoryEvent] = ()) -> act.ContinueAsNew:
        """The closing action, carrying events no wait consumed (unless told not to).

        ``late_events``: events that arrived after the code finished; their
        ``EventRaised`` ones are carried too, after the buffered ones.
        """
        if self._continuation is None:
            raise ValueError("continue_as_new was not requested.")
        carried: tuple[EventRaised, ...] = ()
        if self._keep_unprocessed_events:
            carried = tuple(e for q in self._buffer.values() for e in q)
            carried += tuple(e for e in late_events if isinstance(e, EventRaised))
        return act.ContinueAsNew(self._continuation.input, carried)
