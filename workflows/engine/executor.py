"""The replay engine: history + new events in, new history + actions out. No I/O."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from . import actions as act
from . import events as ev
from .context import OrchestrationContext
from .converter import PLAIN_JSON_CONVERTER
from .errors import NonDeterminismError, PayloadError, WorkflowCodeError
from .failures import FailureDetails
from .payloads import check_size, round_trip
from .registry import PLAIN_JSON, Registry
from .state import ExecutionState
from .step_kinds import (
    STEP_COMPLETED_BY,
    STEP_FAILED_BY,
    STEP_KINDS,
    STEP_OF_EVENT,
    describe_action,
    describe_event,
)
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


# The events that close an execution; nothing but these follows the finish in history.
_CLOSING_EVENTS = (ev.ExecutionCompleted, ev.ExecutionFailed, ev.ContinuedAsNew)
_RECORDED_ENDS = (*_CLOSING_EVENTS, ev.ExecutionTerminated)
# Still processed once the orchestrator finished: the episode's clock, and patch
# markers, which are recorded even in the finishing episode (see ``apply``).
_AFTER_FINISH = (
    ev.OrchestratorStarted,
    ev.MarkerRecorded,
    ev.EntitySignaled,
    ev.EntityLocksReleased,
    ev.SearchAttributesUpserted,
)
# Decisions of the finishing episode that still go out: patch markers, entity signals
# and lock releases (a last ``signal_entity`` before ``return`` is sent), and search
# attributes (a last ``upsert_search_attributes({"outcome": ...})`` is kept).
_KEPT_AT_FINISH = (
    act.RecordMarker,
    act.SignalEntity,
    act.ReleaseLocks,
    act.UpsertSearchAttributes,
)


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
        # Exists before the context: the episode's clock and the recorded steps are
        # known from history before ExecutionStarted creates the context.
        self._state = ExecutionState()
        self._generator: Generator[Any, Any, Any] | None = None
        self._awaiting: Task | None = None
        self._end_recorded = False  # history holds this execution's end event
        self._types = PLAIN_JSON  # the orchestrator's input and output hints
        self._converter = registry.converter  # plain JSON for histories before typed ones

    def __del__(self) -> None:
        # Dropped between episodes (a worker replays afresh next time, or the sticky
        # cache evicted it): Python closes the suspended generator, running its
        # ``finally`` blocks. Do it here, as a replay, so they log nothing and a
        # ``yield`` inside them is abandoned quietly.
        if getattr(self, "_generator", None) is None:
            return
        self._state.is_replaying = True
        self._close_generator()

    # -- public ---------------------------------------------------------------
    @property
    def activities_in_flight(self) -> int:
        """How many activities the orchestrator currently waits for (fan-out width)."""
        return self._state.count_open("activity")

    def replay(self, history: Iterable[ev.HistoryEvent]) -> None:
        """Rebuild the generator's state from recorded history (silently)."""
        history = list(history)
        self._pre_index(history)
        _applied, leftovers = self._run(history, replaying=True)
        self.history_length += len(history)
        self._end_recorded = any(isinstance(e, _RECORDED_ENDS) for e in history)
        pending = self._state.first_pending()
        if pending is not None and self.status == OrchestrationStatus.RUNNING:
            raise NonDeterminismError(
                self.instance.instance_id,
                pending.task_id,
                "nothing more at this step (history ends here)",
                describe_action(pending),
            )
        # The code finished, but history goes on: it recorded more steps or events.
        extra = next((e for e in leftovers if not isinstance(e, _CLOSING_EVENTS)), None)
        if extra is not None:
            step = ev.task_id_of(extra)
            raise NonDeterminismError(
                self.instance.instance_id,
                step if step is not None else self._current_step(),
                describe_event(extra),
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
        state = self._state
        status_before = state.custom_status
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
            for action in state.drain_pending():
                if running or (markers and isinstance(action, _KEPT_AT_FINISH)):
                    actions.append(action)
                    new_history.append(STEP_KINDS[type(action)].record(action))
            actions.extend(state.drain_live_updates())
            if state.custom_status != status_before:
                actions.append(act.SetCustomStatus(state.custom_status))
        actions.extend(self._closing_actions(new_history, leftovers))
        if self._finished() and state.locked_entities:
            # An orchestration that ends releases its locks (terminate: the entity finds
            # its holder ended, docs/architecture.md "Entities").
            held = tuple(sorted(str(e) for e in state.locked_entities))
            state.set_locks(())
            actions.append(act.ReleaseLocks(0, held))  # not a step: nothing follows the end
        self.history_length += len(new_history)
        self._end_recorded = self._finished()
        return EpisodeResult(
            new_history=tuple(new_history),
            actions=tuple(actions),
            status=self.status,
            output=self.output,
            failure=self.failure,
            custom_status=state.custom_status,
            history_length=self.history_length,
        )

    # -- driving ---------------------------------------------------------------
    def _run(
        self, events: list[ev.HistoryEvent], replaying: bool
    ) -> tuple[list[ev.HistoryEvent], list[ev.HistoryEvent]]:
        """Process events in order; returns (applied, left over after the end)."""
        self._state.is_replaying = replaying
        for index, event in enumerate(events):
            if self._finished() and not isinstance(event, _AFTER_FINISH):
                return events[:index], events[index:]
            handler = _EVENT_HANDLERS.get(type(event))
            if handler is None:
                raise TypeError(f"No handler for history event {type(event).__name__}.")
            handler(self, event)
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
        if self._state.continues_as_new:
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
        if self._state.continues_as_new:
            self._finish_continued()
            return
        try:
            output = self._converter.encode(value, "orchestrator output", self._types.output)
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
        if self.status == OrchestrationStatus.COMPLETED:
            new_history.append(ev.ExecutionCompleted(self.output))
            return [act.CompleteOrchestration(self.output)]
        if self.status == OrchestrationStatus.FAILED:
            assert self.failure is not None
            new_history.append(ev.ExecutionFailed(self.failure))
            return [act.FailOrchestration(self.failure)]
        if self.status == OrchestrationStatus.CONTINUED_AS_NEW:
            # Events that arrived after the code finished are carried too.
            action = self._state.continue_as_new_action(leftovers)
            new_history.append(ev.ContinuedAsNew(action.input))
            return [action]
        if self.status == OrchestrationStatus.TERMINATED:
            reason = next(
                (e.reason for e in new_history if isinstance(e, ev.ExecutionTerminated)), ""
            )
            return [act.TerminateOrchestration(reason)]
        return []

    # -- event handlers ----------------------------------------------------------
    def _pre_index(self, history: list[ev.HistoryEvent]) -> None:
        self._state.remember_recorded(e for e in history if type(e) in STEP_OF_EVENT)

    def _current_step(self) -> int:
        """The step an error is reported at: 0 before the execution started."""
        return self._state.upcoming_task_id if self.ctx is not None else 0

    def _on_recorded_end(self, event: ev.HistoryEvent) -> None:
        """History ends the execution here; during replay the code must have ended too."""
        if self._state.is_replaying and self.status == OrchestrationStatus.RUNNING:
            raise NonDeterminismError(
                self.instance.instance_id,
                self._current_step(),
                f"the end of the orchestration ({type(event).__name__})",
                "no end (the orchestrator still waits for a task)",
            )

    def _on_orchestrator_started(self, event: ev.OrchestratorStarted) -> None:
        self._state.current_utc_datetime = event.timestamp

    def _on_execution_started(self, event: ev.ExecutionStarted) -> None:
        definition = self.registry.get_orchestrator(event.name, event.version)
        # Unmarked: recorded before typed payloads, so plain JSON for the whole execution.
        typed = event.converter is not None
        self._converter = self.registry.converter if typed else PLAIN_JSON_CONVERTER
        self.ctx = OrchestrationContext(
            self.instance.instance_id,
            self.instance.execution_id,
            event.name,
            definition.version,
            state=self._state,
            activity_timeouts=self.registry.activity_timeouts,
            entity_check=self.registry.check_entity_call,
            converter=self._converter,
            payload_types=self.registry.payload_types if typed else None,
        )
        self.status = OrchestrationStatus.RUNNING
        self._state.carry_search_attributes(event.search_attributes or {})
        try:
            if typed:  # by the orchestrator's input hint, always from the stored form
                types = self.registry.payload_types
                self._types = types("orchestrator", event.name, definition.version)
            value = self._converter.from_json(
                round_trip(event.input), self._types.input, "orchestrator input"
            )
        except PayloadError as exc:
            self._finish_failed(FailureDetails.from_exception(exc))
            return
        self._start_generator(definition.fn, value)

    def _on_terminated(self, _event: ev.ExecutionTerminated) -> None:
        self.status = OrchestrationStatus.TERMINATED
        self._awaiting = None
        self._close_generator()

    def _on_scheduled(self, event: Any) -> None:
        self._require_ctx(event)
        action = self._state.take_pending(event.task_id)
        expected_type, kind = STEP_OF_EVENT[type(event)]
        if (
            action is None
            or not isinstance(action, expected_type)
            or not kind.matches(event, action)
        ):
            produced = describe_action(action)
            if action is None and self._finished():
                produced = "no further step (the orchestrator finished)"
            raise NonDeterminismError(
                self.instance.instance_id, event.task_id, describe_event(event), produced
            )

    def _on_task_completed(self, event: Any) -> None:
        self._require_ctx(event)
        result = STEP_COMPLETED_BY[type(event)].result_of(event)
        # Ignored when no task waits: a duplicate delivery or an abandoned task.
        self._state.resolve(event.task_id, result)

    def _on_task_failed(self, event: Any) -> None:
        self._require_ctx(event)
        self._state.reject(event.task_id, event.failure)

    def _on_event_raised(self, event: ev.EventRaised) -> None:
        self._require_ctx(event)
        self._state.deliver_event(event)

    def _require_ctx(self, event: ev.HistoryEvent) -> OrchestrationContext:
        if self.ctx is None:
            raise NonDeterminismError(
                self.instance.instance_id,
                0,
                f"{type(event).__name__} before the execution started",
                "nothing (no ExecutionStarted event yet)",
            )
        return self.ctx


# Plain functions, not bound methods: an Orchestration must not refer to itself, so
# that dropping it runs ``__del__`` at once, while its generator is still open (in a
# garbage cycle the generator could be finalized first, and a ``yield`` in its
# ``finally`` would then be reported as an ignored exception).
_EVENT_HANDLERS: dict[type[ev.HistoryEvent], Callable[[Orchestration, Any], None]] = {
    ev.OrchestratorStarted: Orchestration._on_orchestrator_started,
    ev.ExecutionStarted: Orchestration._on_execution_started,
    ev.ExecutionTerminated: Orchestration._on_terminated,
    ev.ExecutionCompleted: Orchestration._on_recorded_end,
    ev.ExecutionFailed: Orchestration._on_recorded_end,
    ev.ContinuedAsNew: Orchestration._on_recorded_end,
    ev.EventRaised: Orchestration._on_event_raised,
    **{event_type: Orchestration._on_scheduled for event_type in STEP_OF_EVENT},
    **{event_type: Orchestration._on_task_completed for event_type in STEP_COMPLETED_BY},
    **{event_type: Orchestration._on_task_failed for event_type in STEP_FAILED_BY},
}


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
