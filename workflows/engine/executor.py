"""The replay engine: history + new events in, new history + actions out. No I/O."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from . import actions as act
from . import events as ev
from .context import OrchestrationContext, failure_for
from .errors import NonDeterminismError, PayloadError, WorkflowCodeError
from .failures import FailureDetails
from .payloads import check_size, round_trip
from .registry import Registry
from .tasks import Task


class OrchestrationStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"
    SUSPENDED = "suspended"
    CONTINUED_AS_NEW = "continued_as_new"


TERMINAL_STATUSES = frozenset(
    {OrchestrationStatus.COMPLETED, OrchestrationStatus.FAILED, OrchestrationStatus.TERMINATED}
)


@dataclass(frozen=True)
class InstanceRef:
    """Identity of the orchestration being executed."""

    instance_id: str
    execution_id: str = "1"


@dataclass(frozen=True)
class EpisodeResult:
    """What one episode decided: events to append to history, actions to carry out."""

    new_history: tuple[ev.HistoryEvent, ...]
    actions: tuple[act.Action, ...]
    status: OrchestrationStatus
    output: Any = None
    failure: FailureDetails | None = None
    custom_status: Any = None
    history_length: int = 0

    @property
    def is_finished(self) -> bool:
        return self.status != OrchestrationStatus.RUNNING


def _describe_event(event: ev.HistoryEvent) -> str:
    described = {
        ev.ActivityScheduled: lambda e: f"activity {e.name!r}",
        ev.TimerCreated: lambda e: f"a timer at {e.fire_at.isoformat()}",
        ev.SubOrchestrationCreated: lambda e: f"sub-orchestration {e.name!r}",
        ev.MarkerRecorded: lambda e: f"patch marker {e.name!r}",
        ev.CompensationRegistered: lambda e: f"compensation {e.name!r} registered",
        ev.ApprovalRequested: lambda e: f"approval request {e.name!r}",
    }
    describe = described.get(type(event))
    if describe is not None:
        return describe(event)
    task_id = ev.task_id_of(event)
    return f"{type(event).__name__}" + (f" for task {task_id}" if task_id is not None else "")


def _describe_action(action: act.Action | None) -> str:
    if action is None:
        return "nothing at this step"
    described: dict[type, Callable[[Any], str]] = {
        act.ScheduleActivity: lambda a: f"activity {a.name!r}",
        act.CreateTimer: lambda a: f"a timer at {a.fire_at.isoformat()}",
        act.StartSubOrchestration: lambda a: f"sub-orchestration {a.name!r}",
        act.RecordMarker: lambda a: f"patch marker {a.name!r}",
        act.RegisterCompensation: lambda a: f"compensation {a.name!r} registered",
        act.RequestApproval: lambda a: f"approval request {a.name!r}",
    }
    return described[type(action)](action)


# Which action type each scheduling event must match, and what must be equal.
_MATCHES: dict[type, tuple[type, Callable[[Any, Any], bool]]] = {
    ev.ActivityScheduled: (act.ScheduleActivity, lambda e, a: e.name == a.name),
    ev.TimerCreated: (act.CreateTimer, lambda e, a: True),
    ev.SubOrchestrationCreated: (act.StartSubOrchestration, lambda e, a: e.name == a.name),
    ev.MarkerRecorded: (act.RecordMarker, lambda e, a: e.name == a.name),
    ev.CompensationRegistered: (act.RegisterCompensation, lambda e, a: e.name == a.name),
    ev.ApprovalRequested: (act.RequestApproval, lambda e, a: e.name == a.name),
}


# The events that close an execution; nothing but these follows the finish in history.
_CLOSING_EVENTS = (ev.ExecutionCompleted, ev.ExecutionFailed, ev.ContinuedAsNew)
_RECORDED_ENDS = (*_CLOSING_EVENTS, ev.ExecutionTerminated)
# Still processed once the orchestrator finished: the episode's clock, and patch
# markers, which are recorded even in the finishing episode (see ``apply``).
_AFTER_FINISH = (ev.OrchestratorStarted, ev.MarkerRecorded)


def _event_for_action(action: act.Action) -> ev.HistoryEvent:
    to_event: dict[type, Callable[[Any], ev.HistoryEvent]] = {
        act.ScheduleActivity: lambda a: ev.ActivityScheduled(
            a.task_id, a.name, a.input, a.attempt, a.call_id, a.idempotency_key
        ),
        act.CreateTimer: lambda a: ev.TimerCreated(a.task_id, a.fire_at, a.purpose),
        act.StartSubOrchestration: lambda a: ev.SubOrchestrationCreated(
            a.task_id, a.name, a.instance_id, a.version, a.input
        ),
        act.RecordMarker: lambda a: ev.MarkerRecorded(a.task_id, a.name),
        act.RegisterCompensation: lambda a: ev.CompensationRegistered(
            a.task_id, a.name, a.input, a.step, a.order
        ),
        act.RequestApproval: lambda a: ev.ApprovalRequested(
            a.task_id, a.name, a.assignees, a.details, a.deadline
        ),
    }
    return to_event[type(action)](action)


class Orchestration:
    """The live state of one orchestration execution: replay once, then apply episodes.

    A worker may keep this object between episodes (the sticky cache) and call
    :meth:`apply` with only the new events; the results are identical to a full replay.
    """

    def __init__(
        self, registry: Registry, instance: InstanceRef, max_output_bytes: int | None = None
    ) -> None:
        self.registry = registry
        self.instance = instance
        # An output over this size fails the orchestration (PayloadTooLarge), on replay too.
        self.max_output_bytes = max_output_bytes
        self.ctx: OrchestrationContext | None = None
        self.history_length = 0
        self.status = OrchestrationStatus.PENDING
        self.output: Any = None
        self.failure: FailureDetails | None = None
        self._generator: Generator[Any, Any, Any] | None = None
        self._awaiting: Task | None = None
        self._replaying = False
        self._episode_time: datetime | None = None
        self._recorded_index: dict[int, ev.HistoryEvent] = {}
        self._end_recorded = False  # history holds this execution's end event
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.OrchestratorStarted: self._on_orchestrator_started,
            ev.ExecutionStarted: self._on_execution_started,
            ev.ExecutionTerminated: self._on_terminated,
            ev.ExecutionCompleted: self._on_recorded_end,
            ev.ExecutionFailed: self._on_recorded_end,
            ev.ContinuedAsNew: self._on_recorded_end,
            ev.ActivityScheduled: self._on_scheduled,
            ev.TimerCreated: self._on_scheduled,
            ev.SubOrchestrationCreated: self._on_scheduled,
            ev.MarkerRecorded: self._on_scheduled,
            ev.CompensationRegistered: self._on_scheduled,
            ev.ApprovalRequested: self._on_scheduled,
            ev.ActivityCompleted: self._on_task_completed,
            ev.SubOrchestrationCompleted: self._on_task_completed,
            ev.ActivityFailedEvent: self._on_task_failed,
            ev.SubOrchestrationFailedEvent: self._on_task_failed,
            ev.TimerFired: self._on_timer_fired,
            ev.EventRaised: self._on_event_raised,
        }

    def __del__(self) -> None:
        # Dropped between episodes (a worker replays afresh next time, or the sticky
        # cache evicted it): Python closes the suspended generator, running its
        # ``finally`` blocks. Do it here, as a replay, so they log nothing and a
        # ``yield`` inside them is abandoned quietly.
        if getattr(self, "_generator", None) is None:
            return
        if self.ctx is not None:
            self.ctx.is_replaying = True
        self._close_generator()

    # -- public ---------------------------------------------------------------
    @property
    def activities_in_flight(self) -> int:
        """How many activities the orchestrator currently waits for (fan-out width)."""
        if self.ctx is None:
            return 0
        return sum(1 for t in self.ctx._open_tasks.values() if t.kind == "activity")

    def replay(self, history: Iterable[ev.HistoryEvent]) -> None:
        """Rebuild the generator's state from recorded history (silently)."""
        history = list(history)
        self._pre_index(history)
        _applied, leftovers = self._run(history, replaying=True)
        self.history_length += len(history)
        self._end_recorded = any(isinstance(e, _RECORDED_ENDS) for e in history)
        ctx = self.ctx
        if ctx is not None and ctx._pending_actions and self.status == OrchestrationStatus.RUNNING:
            task_id = min(ctx._pending_actions)
            raise NonDeterminismError(
                self.instance.instance_id,
                task_id,
                "nothing more at this step (history ends here)",
                _describe_action(ctx._pending_actions[task_id]),
            )
        # The code finished, but history goes on: it recorded more steps or events.
        extra = next((e for e in leftovers if not isinstance(e, _CLOSING_EVENTS)), None)
        if extra is not None:
            step = ev.task_id_of(extra)
            raise NonDeterminismError(
                self.instance.instance_id,
                step if step is not None else (ctx._sequence + 1 if ctx else 0),
                _describe_event(extra),
                "no further step (the orchestrator finished)",
            )

    def apply(
        self, new_events: Iterable[ev.HistoryEvent], now: datetime | None = None
    ) -> EpisodeResult:
        """Run one episode over ``new_events``; ``now`` opens it as its 'current time'."""
        ctx = self.ctx
        if self._end_recorded:
            # History already ends this execution: a late event changes nothing.
            return EpisodeResult(
                new_history=(),
                actions=(),
                status=self.status,
                output=self.output,
                failure=self.failure,
                custom_status=ctx.custom_status if ctx else None,
                history_length=self.history_length,
            )
        new_events = list(new_events)
        if now is not None:
            new_events.insert(0, ev.OrchestratorStarted(now))
        status_before = self.ctx.custom_status if self.ctx else None
        applied, leftovers = self._run(new_events, replaying=False)
        new_history = list(applied)
        actions: list[act.Action] = []
        ctx = self.ctx
        if ctx is not None:
            # A finished orchestration starts nothing more: its last decisions are dropped.
            # Patch markers are kept (before the closing event) so that a replay takes
            # the same is_patched() branch; a terminated one has no branch left to take.
            running = self.status == OrchestrationStatus.RUNNING
            markers = self.status != OrchestrationStatus.TERMINATED
            for task_id in sorted(ctx._pending_actions):
                action = ctx._pending_actions[task_id]
                if running or (markers and isinstance(action, act.RecordMarker)):
                    actions.append(action)
                    new_history.append(_event_for_action(action))
            ctx._pending_actions.clear()
            actions.extend(ctx._live_updates)
            ctx._live_updates.clear()
            if ctx.custom_status != status_before:
                actions.append(act.SetCustomStatus(ctx.custom_status))
        actions.extend(self._closing_actions(new_history, leftovers))
        self.history_length += len(new_history)
        self._end_recorded = self._finished()
        return EpisodeResult(
            new_history=tuple(new_history),
            actions=tuple(actions),
            status=self.status,
            output=self.output,
            failure=self.failure,
            custom_status=ctx.custom_status if ctx else None,
            history_length=self.history_length,
        )

    # -- driving ---------------------------------------------------------------
    def _run(
        self, events: list[ev.HistoryEvent], replaying: bool
    ) -> tuple[list[ev.HistoryEvent], list[ev.HistoryEvent]]:
        """Process events in order; returns (applied, left over after the end)."""
        self._replaying = replaying
        for index, event in enumerate(events):
            if self.ctx is not None:
                self.ctx.is_replaying = replaying
            if self._finished() and not isinstance(event, _AFTER_FINISH):
                return events[:index], events[index:]
            handler = self._handlers.get(type(event))
            if handler is None:
                raise TypeError(f"No handler for history event {type(event).__name__}.")
            handler(event)
            self._resume()
        return events, []

    def _finished(self) -> bool:
        return (
            self.status in TERMINAL_STATUSES or self.status == OrchestrationStatus.CONTINUED_AS_NEW
        )

    def _resume(self) -> None:
        """Advance the generator while the task it waits on is complete."""
        while self._generator is not None and self._awaiting is not None:
            task = self._awaiting
            if not task.is_complete:
                return
            try:
                if task.is_failed:
                    yielded = self._generator.throw(task.error)
                else:
                    yielded = self._generator.send(task._result)
            except StopIteration as stop:
                self._finish_completed(stop.value)
                return
            except Exception as exc:  # noqa: BLE001 - user code failure ends the orchestration
                self._finish_failed(FailureDetails.from_exception(exc))
                return
            self._accept_yield(yielded)

    def _accept_yield(self, yielded: Any) -> None:
        ctx = self.ctx
        assert ctx is not None
        if ctx._continue_as_new is not None:
            self._finish_continued()
            return
        if not isinstance(yielded, Task):
            bad = Task()
            bad.fail(
                WorkflowCodeError(  # type: ignore[arg-type]
                    f"Orchestrator {ctx.name!r} yielded {yielded!r}; yield only durable tasks "
                    "(ctx.call_activity, ctx.create_timer, ctx.task_all, ...). "
                    "Use `yield from` for helper generators such as saga.compensate()."
                )
            )
            self._awaiting = bad
            return
        self._awaiting = yielded

    def _start_generator(self, fn: Callable[..., Any], value: Any) -> None:
        ctx = self.ctx
        assert ctx is not None
        try:
            self._generator = fn(ctx, value)
            yielded = next(self._generator)
        except StopIteration as stop:
            self._finish_completed(stop.value)
            return
        except Exception as exc:  # noqa: BLE001
            self._finish_failed(FailureDetails.from_exception(exc))
            return
        self._accept_yield(yielded)

    def _finish_completed(self, value: Any) -> None:
        if self.ctx is not None and self.ctx._continue_as_new is not None:
            self._finish_continued()
            return
        try:
            output = round_trip(value, "orchestrator output")
            check_size(output, "orchestrator output", self.max_output_bytes)
            self.output = output
        except PayloadError as exc:
            self._finish_failed(FailureDetails.from_exception(exc))
            return
        self.status = OrchestrationStatus.COMPLETED
        self._awaiting = None

    def _finish_failed(self, failure: FailureDetails) -> None:
        self.status = OrchestrationStatus.FAILED
        self.failure = failure
        self._awaiting = None

    def _finish_continued(self) -> None:
        self.status = OrchestrationStatus.CONTINUED_AS_NEW
        self._awaiting = None
        self._close_generator()

    def _close_generator(self) -> None:
        """Stop user code for good, running its ``finally`` blocks.

        A ``yield`` inside such a block cannot run durably any more (the execution is
        over), so it is abandoned instead of failing the episode with the RuntimeError
        of ``generator.close()``; the same for an error raised while cleaning up.
        """
        generator, self._generator = self._generator, None
        if generator is None:
            return
        for _ in range(100):  # each round stops one `yield` inside cleanup code
            try:
                generator.close()
                return
            except Exception:  # noqa: BLE001 - nothing of the user code may outlive the end
                if generator.gi_frame is None:
                    return

    def _closing_actions(
        self, new_history: list[ev.HistoryEvent], leftovers: list[ev.HistoryEvent]
    ) -> list[act.Action]:
        ctx = self.ctx
        if self.status == OrchestrationStatus.COMPLETED:
            new_history.append(ev.ExecutionCompleted(self.output))
            return [act.CompleteOrchestration(self.output)]
        if self.status == OrchestrationStatus.FAILED:
            assert self.failure is not None
            new_history.append(ev.ExecutionFailed(self.failure))
            return [act.FailOrchestration(self.failure)]
        if self.status == OrchestrationStatus.CONTINUED_AS_NEW:
            assert ctx is not None and ctx._continue_as_new is not None
            carried = ctx._unprocessed_events()
            if ctx._keep_unprocessed_events:
                carried += tuple(e for e in leftovers if isinstance(e, ev.EventRaised))
            new_history.append(ev.ContinuedAsNew(ctx._continue_as_new.input))
            return [act.ContinueAsNew(ctx._continue_as_new.input, carried)]
        if self.status == OrchestrationStatus.TERMINATED:
            reason = next(
                (e.reason for e in new_history if isinstance(e, ev.ExecutionTerminated)), ""
            )
            return [act.TerminateOrchestration(reason)]
        return []

    # -- event handlers ----------------------------------------------------------
    def _pre_index(self, history: list[ev.HistoryEvent]) -> None:
        # Updated in place: replay may be called again to catch up (the context shares it).
        self._recorded_index.update(
            (e.task_id, e) for e in history if isinstance(e, tuple(_MATCHES))
        )

    def _on_recorded_end(self, event: ev.HistoryEvent) -> None:
        """History ends the execution here; during replay the code must have ended too."""
        if self._replaying and self.status == OrchestrationStatus.RUNNING:
            ctx = self.ctx
            raise NonDeterminismError(
                self.instance.instance_id,
                ctx._sequence + 1 if ctx else 0,
                f"the end of the orchestration ({type(event).__name__})",
                "no end (the orchestrator still waits for a task)",
            )

    def _on_orchestrator_started(self, event: ev.OrchestratorStarted) -> None:
        if self.ctx is not None:
            self.ctx.current_utc_datetime = event.timestamp
        self._episode_time = event.timestamp

    def _on_execution_started(self, event: ev.ExecutionStarted) -> None:
        definition = self.registry.get_orchestrator(event.name, event.version)
        ctx = OrchestrationContext(
            self.instance.instance_id, self.instance.execution_id, event.name, definition.version
        )
        ctx.is_replaying = self._replaying
        if self._episode_time is not None:
            ctx.current_utc_datetime = self._episode_time
        ctx._recorded = self._recorded_index
        self.ctx = ctx
        self.status = OrchestrationStatus.RUNNING
        self._start_generator(definition.fn, round_trip(event.input, "orchestrator input"))

    def _on_terminated(self, _event: ev.ExecutionTerminated) -> None:
        self.status = OrchestrationStatus.TERMINATED
        self._awaiting = None
        self._close_generator()

    def _on_scheduled(self, event: Any) -> None:
        ctx = self._require_ctx(event)
        action = ctx._pending_actions.pop(event.task_id, None)
        expected_type, same = _MATCHES[type(event)]
        if action is None or not isinstance(action, expected_type) or not same(event, action):
            produced = _describe_action(action)
            if action is None and self._finished():
                produced = "no further step (the orchestrator finished)"
            raise NonDeterminismError(
                self.instance.instance_id, event.task_id, _describe_event(event), produced
            )

    def _on_task_completed(self, event: Any) -> None:
        task = self._require_ctx(event)._open_tasks.pop(event.task_id, None)
        if task is not None:  # None: a duplicate delivery or an abandoned task
            task.complete(round_trip(event.result))

    def _on_task_failed(self, event: Any) -> None:
        task = self._require_ctx(event)._open_tasks.pop(event.task_id, None)
        if task is not None:
            task.fail(failure_for(task, event.failure))

    def _on_timer_fired(self, event: ev.TimerFired) -> None:
        task = self._require_ctx(event)._open_tasks.pop(event.task_id, None)
        if task is not None:
            task.complete(event.fire_at)

    def _on_event_raised(self, event: ev.EventRaised) -> None:
        self._require_ctx(event)._deliver_event(event)

    def _require_ctx(self, event: ev.HistoryEvent) -> OrchestrationContext:
        if self.ctx is None:
            raise NonDeterminismError(
                self.instance.instance_id,
                0,
                f"{type(event).__name__} before the execution started",
                "nothing (no ExecutionStarted event yet)",
            )
        return self.ctx


def execute(
    registry: Registry,
    instance: InstanceRef,
    history: Iterable[ev.HistoryEvent],
    new_events: Iterable[ev.HistoryEvent],
    now: datetime | None = None,
) -> EpisodeResult:
    """Replay ``history``, then apply ``new_events`` as one episode.

    Pure: no I/O, no clock (``now`` is passed in). Raises
    :class:`NonDeterminismError` when the code no longer matches history.

    Example::

        result = execute(registry, InstanceRef("order-1"), [], [ExecutionStarted("order", 1, {})],
                         now=datetime.now(timezone.utc))
        result.actions  # (ScheduleActivity(task_id=1, name='reserve_inventory', ...),)
    """
    orchestration = Orchestration(registry, instance)
    orchestration.replay(history)
    return orchestration.apply(new_events, now)
