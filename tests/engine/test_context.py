"""OrchestrationContext: continue-as-new, custom status, time, ids, replay flag, logger."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from workflows.engine import InstanceRef, Orchestration, OrchestrationStatus, execute
from workflows.engine import actions as act
from workflows.engine import events as ev

from .builders import T0, History, split_episodes

REF = InstanceRef("ctx-1")


# -- continue-as-new ------------------------------------------------------------------


def test_continue_as_new_starts_a_new_execution_with_the_input(registry, runner):
    @registry.orchestrator(name="counter")
    def counter(ctx, n):
        yield ctx.call_activity("echo", n)
        if n < 3:
            ctx.continue_as_new(n + 1)
            return None
        return {"n": n, "execution": ctx.execution_id}

    iid = runner.start("counter", 0)
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.output == {"n": 3, "execution": "4"}
    assert status.execution == 4
    # The history is the last execution's only, starting with the carried input.
    started = [e for e in status.history if isinstance(e, ev.ExecutionStarted)]
    assert started == [ev.ExecutionStarted("counter", 1, 3)]
    assert runner.activity_calls("echo") == [0, 1, 2, 3]


def test_continue_as_new_episode_result(registry):
    @registry.orchestrator(name="loop")
    def loop(ctx, n):
        ctx.continue_as_new({"n": n + 1})
        return "ignored"
        yield  # pragma: no cover

    result = execute(registry, REF, [], [ev.ExecutionStarted("loop", 1, 1)], now=T0)
    assert result.status == OrchestrationStatus.CONTINUED_AS_NEW
    assert result.is_finished
    assert result.actions == (act.ContinueAsNew({"n": 2}, ()),)
    assert result.new_history[-1] == ev.ContinuedAsNew({"n": 2})


def test_continue_as_new_then_yield_stops_the_generator(registry):
    after = []

    @registry.orchestrator(name="loop")
    def loop(ctx, n):
        ctx.continue_as_new(n + 1)
        yield ctx.call_activity("echo", "not scheduled")
        after.append("ran on")  # pragma: no cover

    result = execute(registry, REF, [], [ev.ExecutionStarted("loop", 1, 1)], now=T0)
    assert result.actions == (act.ContinueAsNew(2, ()),)
    assert after == []


def test_continue_as_new_inside_try_finally_that_yields(registry, runner):
    @registry.orchestrator(name="loop")
    def loop(ctx, n):
        try:
            yield ctx.call_activity("echo", n)
            if n < 2:
                ctx.continue_as_new(n + 1)
                return None
            return n
        finally:
            yield ctx.call_activity("echo", "cleanup")  # cannot run: abandoned

    iid = runner.start("loop", 0)
    runner.run_until_idle()
    status = runner.status(iid)
    assert (status.status, status.execution) == ("completed", 3)
    assert runner.activity_calls("echo") == [0, 1, 2, "cleanup"]


def test_unprocessed_events_are_carried_over(registry, runner):
    @registry.orchestrator(name="batcher")
    def batcher(ctx, state):
        item = yield ctx.wait_for_external_event("item")
        seen = state["seen"] + [item]
        if len(seen) < 3:
            yield ctx.call_activity("echo", item)  # other events pile up meanwhile
            ctx.continue_as_new({"seen": seen})
            return None
        return seen

    iid = runner.start("batcher", {"seen": []})
    runner.run_until_idle()
    runner.raise_event(iid, "item", 1)
    runner._step()  # the wait completes; activity scheduled
    runner.raise_event(iid, "item", 2)
    runner.raise_event(iid, "item", 3)
    runner.run_until_idle()
    assert runner.status(iid).output == [1, 2, 3]
    assert runner.status(iid).execution == 3


def test_carried_over_events_at_execute_level(registry):
    @registry.orchestrator(name="once")
    def once(ctx, _):
        yield ctx.create_timer(timedelta(seconds=1))
        ctx.continue_as_new("again")
        return None

    started = execute(registry, REF, [], [ev.ExecutionStarted("once", 1)], now=T0)
    buffered = ev.EventRaised("note", {"n": 1})
    after = ev.EventRaised("note", {"n": 2})
    result = execute(
        registry,
        REF,
        started.new_history,
        [buffered, ev.TimerFired(1, T0), after],
        now=T0,
    )
    # The buffered one (in history) and the one after the finish (not in history).
    assert result.actions[-1] == act.ContinueAsNew("again", (buffered, after))
    assert buffered in result.new_history
    assert after not in result.new_history


def test_unprocessed_events_dropped_when_asked(registry):
    @registry.orchestrator(name="once")
    def once(ctx, _):
        yield ctx.create_timer(timedelta(seconds=1))
        ctx.continue_as_new("again", keep_unprocessed_events=False)
        return None

    started = execute(registry, REF, [], [ev.ExecutionStarted("once", 1)], now=T0)
    result = execute(
        registry,
        REF,
        started.new_history,
        [ev.EventRaised("note", 1), ev.TimerFired(1, T0), ev.EventRaised("note", 2)],
        now=T0,
    )
    assert result.actions[-1] == act.ContinueAsNew("again", ())


# -- custom status --------------------------------------------------------------------


def test_set_custom_status_emits_an_action_only_when_it_changes(registry):
    @registry.orchestrator(name="progress")
    def progress(ctx, _):
        ctx.set_custom_status({"step": 1})
        yield ctx.call_activity("echo")
        ctx.set_custom_status({"step": 1})  # unchanged
        yield ctx.call_activity("echo")
        ctx.set_custom_status(("step", 2))  # stored as JSON: a list
        return None

    first = execute(registry, REF, [], [ev.ExecutionStarted("progress", 1)], now=T0)
    assert act.SetCustomStatus({"step": 1}) in first.actions
    assert first.custom_status == {"step": 1}
    history = list(first.new_history)
    second = execute(registry, REF, history, [ev.ActivityCompleted(1)], now=T0)
    assert not any(isinstance(a, act.SetCustomStatus) for a in second.actions)
    assert second.custom_status == {"step": 1}
    history += second.new_history
    third = execute(registry, REF, history, [ev.ActivityCompleted(2)], now=T0)
    assert act.SetCustomStatus(["step", 2]) in third.actions
    assert third.custom_status == ["step", 2]


def test_custom_status_in_the_runner(registry, runner):
    @registry.orchestrator(name="progress")
    def progress(ctx, items):
        for i, item in enumerate(items, 1):
            yield ctx.call_activity("echo", item)
            ctx.set_custom_status({"done": i, "of": len(items)})
        return None

    iid = runner.start("progress", ["a", "b"])
    runner.run_until_idle()
    assert runner.status(iid).custom_status == {"done": 2, "of": 2}


# -- time, ids, replay flag, logger -------------------------------------------------


def test_current_utc_datetime_is_the_episode_start_on_replay_too(registry, runner):
    seen = []

    @registry.orchestrator(name="clock")
    def clock(ctx, _):
        seen.append(ctx.current_utc_datetime)
        yield ctx.create_timer(timedelta(hours=2))
        seen.append(ctx.current_utc_datetime)
        yield ctx.call_activity("echo")
        seen.append(ctx.current_utc_datetime)
        return [str(t) for t in seen[-3:]]

    iid = runner.start("clock")
    runner.run_until_idle()
    runner.advance(timedelta(hours=2, minutes=5))  # the timer fires 5 minutes late
    output = runner.status(iid).output
    two_h_5 = T0 + timedelta(hours=2, minutes=5)
    assert output == [str(T0), str(two_h_5), str(two_h_5)]
    seen.clear()
    execute(registry, InstanceRef(iid), runner.status(iid).history, [])
    assert seen == [T0, two_h_5, two_h_5]


def test_current_time_is_set_before_the_generator_starts(registry):
    seen = []

    @registry.orchestrator(name="first")
    def first(ctx, _):
        seen.append(ctx.current_utc_datetime)
        yield ctx.call_activity("echo")

    at = T0 + timedelta(days=3)
    execute(registry, REF, [], [ev.ExecutionStarted("first", 1)], now=at)
    assert seen == [at]


def test_new_uuid_is_deterministic_and_unique(registry, runner):
    @registry.orchestrator(name="ids")
    def ids(ctx, _):
        a = ctx.new_uuid()
        yield ctx.call_activity("echo")
        b = ctx.new_uuid()
        c = ctx.new_uuid()
        return [a, b, c]

    first = runner.start("ids")
    second = runner.start("ids")
    runner.run_until_idle()
    output = runner.status(first).output
    assert len(set(output)) == 3
    assert all(uuid.UUID(u).version == 5 for u in output)
    assert runner.status(second).output != output  # instance id is part of the key
    replayed = execute(registry, InstanceRef(first), runner.status(first).history, [])
    assert replayed.output == output


def test_is_replaying_is_false_only_for_new_events(registry):
    flags = []

    @registry.orchestrator(name="flags")
    def flags_(ctx, _):
        flags.append(("start", ctx.is_replaying))
        yield ctx.call_activity("echo")
        flags.append(("after 1", ctx.is_replaying))
        yield ctx.call_activity("echo")
        flags.append(("after 2", ctx.is_replaying))

    h = History().episode().started("flags").scheduled(1, "echo")
    h.episode().completed(1).scheduled(2, "echo")
    execute(registry, REF, h.events, [ev.ActivityCompleted(2)], now=T0)
    assert flags == [("start", True), ("after 1", True), ("after 2", False)]

    flags.clear()
    execute(registry, REF, [], [ev.ExecutionStarted("flags", 1)], now=T0)
    assert flags == [("start", False)]


def test_logger_is_silent_while_replaying(registry, caplog):
    @registry.orchestrator(name="chatty")
    def chatty(ctx, _):
        ctx.logger.info("starting")
        yield ctx.call_activity("echo")
        ctx.logger.warning("step one done")
        yield ctx.call_activity("echo")
        ctx.logger.info("step two done")

    h = History().episode().started("chatty").scheduled(1, "echo")
    h.episode().completed(1).scheduled(2, "echo")
    with caplog.at_level(logging.INFO, logger="workflows.orchestrator"):
        execute(registry, REF, h.events, [ev.ActivityCompleted(2)], now=T0)
    assert [r.getMessage() for r in caplog.records] == ["[ctx-1] step two done"]
    assert caplog.records[0].instance_id == "ctx-1"
    assert caplog.records[0].execution_id == "1"

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="workflows.orchestrator"):
        execute(registry, REF, [], [ev.ExecutionStarted("chatty", 1)], now=T0)
    assert [r.getMessage() for r in caplog.records] == ["[ctx-1] starting"]


def test_logger_respects_the_level(registry, caplog):
    @registry.orchestrator(name="quiet")
    def quiet(ctx, _):
        ctx.logger.debug("hidden")
        ctx.logger.error("shown")
        yield ctx.call_activity("echo")

    with caplog.at_level(logging.INFO, logger="workflows.orchestrator"):
        execute(registry, REF, [], [ev.ExecutionStarted("quiet", 1)], now=T0)
    assert [r.getMessage() for r in caplog.records] == ["[ctx-1] shown"]


def test_identity_on_the_context(registry):
    seen = {}

    @registry.orchestrator(name="who", version=4)
    def who(ctx, _):
        seen.update(id=ctx.instance_id, ex=ctx.execution_id, name=ctx.name, v=ctx.version)
        yield ctx.call_activity("echo")

    execute(registry, InstanceRef("abc", "7"), [], [ev.ExecutionStarted("who", 4)], now=T0)
    assert seen == {"id": "abc", "ex": "7", "name": "who", "v": 4}


def test_kept_alive_orchestration_keeps_time_per_episode(registry):
    seen = []

    @registry.orchestrator(name="clock")
    def clock(ctx, _):
        yield ctx.call_activity("echo")
        seen.append(ctx.current_utc_datetime)
        yield ctx.call_activity("echo")
        seen.append(ctx.current_utc_datetime)

    h = History().episode().started("clock").scheduled(1, "echo")
    orchestration = Orchestration(registry, REF)
    orchestration.replay(split_episodes(h.events)[0])
    orchestration.apply([ev.ActivityCompleted(1)], now=T0 + timedelta(minutes=1))
    orchestration.apply([ev.ActivityCompleted(2)], now=T0 + timedelta(minutes=2))
    assert seen == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert orchestration.status == OrchestrationStatus.COMPLETED


def test_set_progress_publishes_the_progress_convention(registry, runner):
    @registry.orchestrator(name="progressing")
    def progressing(ctx, _):
        ctx.set_progress(40, message="copying", stage="b")
        yield ctx.create_timer(ctx.current_utc_datetime)
        ctx.set_progress(done=3, total=10)
        return None

    iid = runner.start("progressing", None)
    runner.run_until_idle(auto_advance=True)

    assert runner.status(iid).custom_status == {"completed": 3, "total": 10}


def test_set_progress_needs_a_percent_or_done_of_total(registry, runner):
    @registry.orchestrator(name="unclear")
    def unclear(ctx, _):
        ctx.set_progress(done=3)
        yield ctx.create_timer(ctx.current_utc_datetime)

    iid = runner.start("unclear", None)
    runner.run_until_idle(auto_advance=True)

    assert "set_progress takes a percent, or done= and total=" in str(runner.status(iid).failure)
