"""Builders and drivers for engine tests: recorded histories, episode splitting,
and the two ways of running an orchestration (fresh replay vs. a kept-alive one).

Kept in tests on purpose: the engine ships no test-only event factories.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from workflows.engine import (
    EpisodeResult,
    FailureDetails,
    InstanceRef,
    Orchestration,
    Registry,
    execute,
)
from workflows.engine import events as ev
from workflows.engine import testing as engine_testing

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# Events that come *into* an episode (everything else is something an episode decided).
INPUT_EVENTS = (
    ev.OrchestratorStarted,
    ev.ExecutionStarted,
    ev.ExecutionTerminated,
    ev.ActivityCompleted,
    ev.ActivityFailedEvent,
    ev.TimerFired,
    ev.SubOrchestrationCompleted,
    ev.SubOrchestrationFailedEvent,
    ev.EventRaised,
)


class Flaky(ConnectionError):
    """The transient error raised by the standard ``flaky`` activity (see conftest)."""


class History:
    """A fluent builder for recorded histories, with its own clock.

    Example::

        h = History().episode().started("order", {"id": 1}).scheduled(1, "reserve")
        h.episode(seconds=5).completed(1, "ok")
        execute(registry, InstanceRef("i"), h.events, [])
    """

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.events: list[ev.HistoryEvent] = []

    def _add(self, event: ev.HistoryEvent) -> History:
        self.events.append(event)
        return self

    def episode(self, seconds: float = 0) -> History:
        self.now += timedelta(seconds=seconds)
        return self._add(ev.OrchestratorStarted(self.now))

    def started(
        self, name: str, input: Any = None, version: int = 1, converter: int | None = 1
    ) -> History:
        """``converter=None``: a history recorded before typed payloads (no marker)."""
        return self._add(ev.ExecutionStarted(name, version, input, converter=converter))

    def scheduled(
        self, task_id: int, name: str, input: Any = None, attempt: int = 1, call_id: int = 0
    ) -> History:
        return self._add(ev.ActivityScheduled(task_id, name, input, attempt, call_id or task_id))

    def completed(self, task_id: int, result: Any = None) -> History:
        return self._add(ev.ActivityCompleted(task_id, result))

    def failed(self, task_id: int, error: BaseException) -> History:
        return self._add(ev.ActivityFailedEvent(task_id, failure_of(error)))

    def timer(self, task_id: int, seconds: float, purpose: str = "timer") -> History:
        return self._add(ev.TimerCreated(task_id, self.now + timedelta(seconds=seconds), purpose))

    def fired(self, task_id: int) -> History:
        created = next(
            e for e in self.events if isinstance(e, ev.TimerCreated) and e.task_id == task_id
        )
        return self._add(ev.TimerFired(task_id, created.fire_at))

    def raised(self, name: str, data: Any = None) -> History:
        return self._add(ev.EventRaised(name, data))

    def marker(self, task_id: int, name: str) -> History:
        return self._add(ev.MarkerRecorded(task_id, name))

    def finished(self, output: Any = None) -> History:
        return self._add(ev.ExecutionCompleted(output))


def failure_of(error: BaseException) -> FailureDetails:
    """FailureDetails of an exception as if it had been raised (so it has a traceback)."""
    try:
        raise error
    except BaseException as exc:  # noqa: BLE001 - any error is turned into details
        return FailureDetails.from_exception(exc)


def split_episodes(history: list[ev.HistoryEvent]) -> list[list[ev.HistoryEvent]]:
    """History cut right before each OrchestratorStarted: one list per episode."""
    episodes: list[list[ev.HistoryEvent]] = []
    for event in history:
        if isinstance(event, ev.OrchestratorStarted) or not episodes:
            episodes.append([])
        episodes[-1].append(event)
    return episodes


def inputs_of(episode: list[ev.HistoryEvent]) -> list[ev.HistoryEvent]:
    """The events that came into an episode (what a worker would pass as new events)."""
    return [e for e in episode if isinstance(e, INPUT_EVENTS)]


SCHEDULING_EVENTS = (
    ev.ActivityScheduled,
    ev.TimerCreated,
    ev.SubOrchestrationCreated,
    ev.MarkerRecorded,
    ev.CompensationRegistered,
    ev.ApprovalRequested,
    ev.EntityCalled,
    ev.EntitySignaled,
    ev.EntityLockRequested,
    ev.EntityLocksReleased,
    ev.SearchAttributesUpserted,
)
TASK_DONE_EVENTS = (
    ev.ActivityCompleted,
    ev.ActivityFailedEvent,
    ev.TimerFired,
    ev.SubOrchestrationCompleted,
    ev.SubOrchestrationFailedEvent,
    ev.EntityCallCompleted,
    ev.EntityCallFailed,
    ev.EntityLockGranted,
)
ENDING_EVENTS = (
    ev.ExecutionCompleted,
    ev.ExecutionFailed,
    ev.ExecutionTerminated,
    ev.ContinuedAsNew,
)


def assert_history_shape(history: list[ev.HistoryEvent]) -> None:
    """What every recorded execution history looks like (the runtime checks the same)."""
    assert history and isinstance(history[0], ev.OrchestratorStarted)
    assert sum(isinstance(e, ev.ExecutionStarted) for e in history) == 1
    scheduled = [e.task_id for e in history if isinstance(e, SCHEDULING_EVENTS)]
    assert len(scheduled) == len(set(scheduled)), f"a task scheduled twice: {scheduled}"
    done = [e.task_id for e in history if isinstance(e, TASK_DONE_EVENTS)]
    assert len(done) == len(set(done)), f"a task completed twice: {done}"
    assert set(done) <= set(scheduled), "a completion without its scheduling event"
    endings = [e for e in history if isinstance(e, ENDING_EVENTS)]
    assert len(endings) <= 1, f"more than one ending: {endings}"
    if endings:
        assert history[-1] is endings[0], "history goes on after the execution ended"


def kinds(events: list[ev.HistoryEvent] | tuple[ev.HistoryEvent, ...]) -> list[str]:
    return [type(e).__name__ for e in events]


@dataclass(frozen=True)
class Episode:
    """One episode as the in-memory runner ran it."""

    instance: InstanceRef
    history: tuple[ev.HistoryEvent, ...]
    new_events: tuple[ev.HistoryEvent, ...]
    now: datetime | None
    result: EpisodeResult


@contextmanager
def recording_episodes() -> Iterator[list[Episode]]:
    """Capture every episode the WorkflowTestRunner runs (inputs and EpisodeResult)."""
    recorded: list[Episode] = []
    real_execute = engine_testing.execute

    def spy(registry, instance, history, new_events, now=None):
        history, new_events = tuple(history), tuple(new_events)
        result = real_execute(registry, instance, history, new_events, now)
        recorded.append(Episode(instance, history, new_events, now, result))
        return result

    with mock.patch.object(engine_testing, "execute", spy):
        yield recorded


def episodes_of(
    recorded: list[Episode], instance_id: str, execution_id: str = "1"
) -> list[Episode]:
    return [
        e
        for e in recorded
        if e.instance.instance_id == instance_id and e.instance.execution_id == execution_id
    ]


def replay_then_apply(
    registry: Registry, episodes: list[Episode], split: int
) -> tuple[Orchestration, list[EpisodeResult]]:
    """Replay the history of ``episodes[:split]`` once, then apply the rest one by one
    on the same (sticky) Orchestration; returns the results of the applied episodes."""
    instance = episodes[0].instance
    history = [e for episode in episodes[:split] for e in episode.result.new_history]
    orchestration = Orchestration(registry, instance)
    orchestration.replay(history)
    results = [orchestration.apply(e.new_events, e.now) for e in episodes[split:]]
    return orchestration, results


def run_fresh(registry: Registry, episodes: list[Episode]) -> list[EpisodeResult]:
    """Each episode through execute() on the full history so far (what the runner does)."""
    history: list[ev.HistoryEvent] = []
    results = []
    for episode in episodes:
        result = execute(registry, episode.instance, history, episode.new_events, episode.now)
        history.extend(result.new_history)
        results.append(result)
    return results
