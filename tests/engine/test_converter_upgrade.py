"""Upgrade safety of typed payloads: an execution recorded before the converter existed
(no ``converter`` marker on its ExecutionStarted) replays exactly as it ran, with plain
JSON throughout; new executions are marked and decode by hints."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from workflows.engine import (
    ActivityContext,
    InstanceRef,
    NonDeterminismError,
    Orchestration,
    Registry,
    execute,
)
from workflows.engine import actions as act
from workflows.engine import events as ev
from workflows.engine.testing import WorkflowTestRunner

from .builders import T0, History


@dataclass(frozen=True)
class Order:
    id: int
    sku: str


def load(ctx: ActivityContext, order: Order) -> dict:  # returned None before the upgrade
    return {"sku": order.sku}


def legacy_registry() -> Registry:
    """Code deployed after the upgrade: its hints were decorative when the history ran."""
    registry = Registry()
    registry.add_activity(load, "load")
    registry.add_activity(lambda ctx, data: data, "fallback")

    def flow(ctx: Any, order: Order) -> Generator[Any, Any, dict]:
        data = yield ctx.call_activity("load", order)
        if data is None:  # the path the recorded run took
            data = yield ctx.call_activity("fallback", {"id": order["id"]})
            return {"path": "fallback", "order": type(order).__name__, "data": data}
        return {"path": "main", "order": type(order).__name__, "data": data}

    registry.add_orchestrator(flow, "flow")
    return registry


def recorded(converter: int | None) -> History:
    h = History().episode().started("flow", {"id": 7, "sku": "A-1"}, converter=converter)
    h.scheduled(1, "load", {"id": 7, "sku": "A-1"})
    return h.episode(seconds=1).completed(1, None)


def test_a_history_without_the_marker_replays_as_it_ran_with_plain_json():
    h = recorded(converter=None).scheduled(2, "fallback", {"id": 7})
    h.episode(seconds=1).completed(2, {"id": 7})
    output = {"path": "fallback", "order": "dict", "data": {"id": 7}}
    h.finished(output)

    result = execute(legacy_registry(), InstanceRef("old"), h.events, [])

    assert result.status == "completed"
    assert result.output == output
    assert result.actions == () and result.new_history == ()


def test_a_live_episode_of_an_unmarked_execution_keeps_plain_json():
    h = recorded(converter=None)
    history, new = h.events[:-2], h.events[-2:]  # the result arrives after the upgrade

    result = execute(legacy_registry(), InstanceRef("old"), history, new)

    # None did not fit `-> dict` but the old path is taken; the order stayed a dict.
    assert result.actions == (act.ScheduleActivity(2, "fallback", {"id": 7}, 1, 2),)


def test_the_same_history_with_the_marker_decodes_by_hints_and_takes_another_path():
    h = recorded(converter=1).scheduled(2, "fallback", {"id": 7})
    h.episode(seconds=1).completed(2, {"id": 7})

    # `-> dict` refuses the stored None: ActivityFailed at the yield, not the old path.
    with pytest.raises(NonDeterminismError):
        execute(legacy_registry(), InstanceRef("new"), h.events, [])


def test_an_unmarked_execution_refuses_what_it_refused_before():
    registry = Registry()

    def stamp(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        ctx.set_custom_status({"at": datetime(2026, 1, 1, tzinfo=UTC)})
        return (yield ctx.call_activity("load", {"id": 1, "sku": "x"}))

    registry.add_activity(load, "load")
    registry.add_orchestrator(stamp, "stamp")
    h = History().episode().started("stamp", None, converter=None)

    result = execute(registry, InstanceRef("old"), [], h.events)

    assert result.status == "failed"
    assert "custom status is not JSON-serializable" in result.failure.message


def test_a_stored_event_without_the_field_reads_as_unmarked_and_new_ones_are_marked():
    new = ev.ExecutionStarted("flow", 1, {"id": 1})
    stored = ev.event_to_payload(new)
    assert stored["converter"] == 1
    assert ev.event_from_payload("execution_started", stored) == new

    del stored["converter"]  # as written before typed payloads
    assert ev.event_from_payload("execution_started", stored).converter is None


def test_new_executions_are_marked_and_continue_as_new_marks_the_next_one():
    registry = Registry()

    def looping(ctx: Any, n: int) -> Generator[Any, Any, int]:
        if n < 1:
            ctx.continue_as_new(n + 1)
            return None
        yield ctx.create_timer(T0)
        return n

    registry.add_orchestrator(looping, "looping")
    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("looping", 0)
    runner.run_until_idle()

    status = runner.status(iid)
    assert status.output == 1 and status.execution == 2
    started = [e for e in status.history if isinstance(e, ev.ExecutionStarted)]
    assert [e.converter for e in started] == [1]


def test_a_kept_alive_orchestration_of_an_unmarked_history_stays_plain():
    h = recorded(converter=None)
    orchestration = Orchestration(legacy_registry(), InstanceRef("old"))
    orchestration.replay(h.events[:-2])

    result = orchestration.apply(h.events[-2:])

    assert [a.name for a in result.actions] == ["fallback"]
