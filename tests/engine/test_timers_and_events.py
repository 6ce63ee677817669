"""Durable timers and external events (context.py)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import pytest

from workflows.engine import EventTimeout, InstanceRef, OrchestrationStatus, execute
from workflows.engine import actions as act
from workflows.engine import events as ev

from .builders import T0

REF = InstanceRef("wait-1")
MINUTE = timedelta(minutes=1)


# -- timers -----------------------------------------------------------------------


def test_timer_with_timedelta_fires_at_now_plus_delay(registry, runner):
    @registry.orchestrator(name="nap")
    def nap(ctx, minutes):
        fired = yield ctx.create_timer(timedelta(minutes=minutes))
        return fired.isoformat()

    iid = runner.start("nap", 10)
    runner.run_until_idle()
    [timer] = [e for e in runner.status(iid).history if isinstance(e, ev.TimerCreated)]
    assert timer.fire_at == T0 + 10 * MINUTE
    assert timer.purpose == "timer"
    runner.advance(9 * MINUTE)
    assert runner.status(iid).status == "running"
    runner.advance(MINUTE)
    status = runner.status(iid)
    assert status.status == "completed"
    assert status.output == (T0 + 10 * MINUTE).isoformat()


def test_timer_with_absolute_datetime(registry):
    deadline = datetime(2026, 3, 1, 9, 0, tzinfo=T0.tzinfo)

    @registry.orchestrator(name="until")
    def until(ctx, _):
        yield ctx.create_timer(deadline)
        return "woke"

    first = execute(registry, REF, [], [ev.ExecutionStarted("until", 1)], now=T0)
    assert first.actions == (act.CreateTimer(1, deadline, "timer"),)
    done = execute(registry, REF, first.new_history, [ev.TimerFired(1, deadline)], now=deadline)
    assert done.output == "woke"


@pytest.mark.parametrize(
    ("fire_at", "message"),
    [
        (datetime(2026, 2, 1), "naive datetime"),
        (60, "needs a datetime or timedelta, got int"),
    ],
)
def test_bad_timer_arguments(registry, fire_at, message):
    @registry.orchestrator(name="bad")
    def bad(ctx, _):
        yield ctx.create_timer(fire_at)

    result = execute(registry, REF, [], [ev.ExecutionStarted("bad", 1)], now=T0)
    assert result.failure.type == "workflows.engine.errors.WorkflowCodeError"
    assert message in result.failure.message


def test_unrelated_timer_fire_does_not_wake_the_orchestrator(registry):
    @registry.orchestrator(name="two")
    def two(ctx, _):
        yield ctx.create_timer(MINUTE)
        yield ctx.create_timer(MINUTE)
        return "done"

    first = execute(registry, REF, [], [ev.ExecutionStarted("two", 1)], now=T0)
    # A duplicate delivery of a timer that already fired is ignored.
    history = list(first.new_history)
    second = execute(registry, REF, history, [ev.TimerFired(1, T0 + MINUTE)], now=T0 + MINUTE)
    history += second.new_history
    dup = execute(registry, REF, history, [ev.TimerFired(1, T0 + MINUTE)], now=T0 + MINUTE)
    assert dup.actions == ()
    assert dup.status == OrchestrationStatus.RUNNING


# -- external events --------------------------------------------------------------


@pytest.fixture
def approvals(registry):
    @registry.orchestrator(name="approve")
    def approve(ctx, _):
        yield ctx.call_activity("echo", "prepare")
        decision = yield ctx.wait_for_external_event("decision")
        return decision

    @registry.orchestrator(name="collect")
    def collect(ctx, count):
        yield ctx.call_activity("echo", "prepare")
        items = []
        for _ in range(count):
            items.append((yield ctx.wait_for_external_event("item")))
        return items

    @registry.orchestrator(name="deadline")
    def deadline(ctx, _):
        try:
            decision = yield ctx.wait_for_external_event("decision", timeout=timedelta(hours=1))
        except EventTimeout as exc:
            ctx.set_custom_status({"timed_out": exc.name, "at": str(exc.timeout_at)})
            decision = yield ctx.wait_for_external_event("decision")
            return {"late": decision}
        return {"on_time": decision}


def test_event_raised_during_the_wait(approvals, runner):
    iid = runner.start("approve")
    runner.run_until_idle()
    assert runner.status(iid).status == "running"
    runner.raise_event(iid, "decision", {"approved": True})
    runner.run_until_idle()
    assert runner.status(iid).output == {"approved": True}


def test_events_raised_before_the_wait_are_buffered_in_order(approvals, runner):
    iid = runner.start("collect", 3)
    # All three arrive in the very first episode, before any wait exists.
    runner.raise_event(iid, "item", "a")
    runner.raise_event(iid, "other", "ignored")
    runner.raise_event(iid, "item", "b")
    runner.raise_event(iid, "item", "c")
    runner.run_until_idle()
    assert runner.status(iid).output == ["a", "b", "c"]


def test_buffered_event_is_json_decoded_like_a_live_one(registry):
    @registry.orchestrator(name="kinds")
    def kinds_(ctx, _):
        yield ctx.create_timer(MINUTE)
        early = yield ctx.wait_for_external_event("early")
        late = yield ctx.wait_for_external_event("late")
        return [type(early).__name__, type(late).__name__]

    first = execute(
        registry,
        REF,
        [],
        [ev.ExecutionStarted("kinds", 1), ev.EventRaised("early", (1, 2))],
        now=T0,
    )
    history = list(first.new_history)
    second = execute(registry, REF, history, [ev.TimerFired(1, T0 + MINUTE)], now=T0 + MINUTE)
    history += second.new_history
    done = execute(registry, REF, history, [ev.EventRaised("late", (3, 4))], now=T0 + MINUTE)
    assert done.output == ["list", "list"]


def test_event_timeout_raises_event_timeout(approvals, runner):
    iid = runner.start("deadline")
    runner.run_until_idle()
    runner.advance(timedelta(minutes=59))
    assert runner.status(iid).custom_status is None
    runner.advance(MINUTE)
    status = runner.status(iid)
    assert status.status == "running"
    assert status.custom_status == {
        "timed_out": "decision",
        "at": str(T0 + timedelta(hours=1)),
    }
    timers = [e for e in status.history if isinstance(e, ev.TimerCreated)]
    assert [t.fire_at for t in timers] == [T0 + timedelta(hours=1)]
    # The late event is not lost: the second wait gets it.
    runner.raise_event(iid, "decision", "yes, late")
    runner.run_until_idle()
    assert runner.status(iid).output == {"late": "yes, late"}


def test_event_before_the_timeout_wins_and_the_timer_is_harmless(approvals, runner):
    iid = runner.start("deadline")
    runner.run_until_idle()
    runner.raise_event(iid, "decision", "yes")
    runner.run_until_idle()
    assert runner.status(iid).output == {"on_time": "yes"}
    runner.advance(timedelta(hours=2))  # the old timeout timer firing changes nothing
    assert runner.status(iid).output == {"on_time": "yes"}


def test_event_after_timeout_is_buffered_not_lost(registry):
    @registry.orchestrator(name="late")
    def late(ctx, _):
        with contextlib.suppress(EventTimeout):
            yield ctx.wait_for_external_event("ping", timeout=MINUTE)
        yield ctx.create_timer(timedelta(hours=1))
        return (yield ctx.wait_for_external_event("ping"))

    first = execute(registry, REF, [], [ev.ExecutionStarted("late", 1)], now=T0)
    history = list(first.new_history)
    # The timeout fires, then the event arrives in the same batch, before the next wait.
    second = execute(
        registry,
        REF,
        history,
        [ev.TimerFired(1, T0 + MINUTE), ev.EventRaised("ping", "pong")],
        now=T0 + MINUTE,
    )
    assert second.actions == (act.CreateTimer(2, T0 + MINUTE + timedelta(hours=1), "timer"),)
    history += second.new_history
    third = execute(registry, REF, history, [ev.TimerFired(2, T0 + timedelta(minutes=61))], now=T0)
    assert third.output == "pong"


def test_wait_needs_an_event_name(registry):
    @registry.orchestrator(name="nameless")
    def nameless(ctx, _):
        yield ctx.wait_for_external_event("")

    result = execute(registry, REF, [], [ev.ExecutionStarted("nameless", 1)], now=T0)
    assert "needs a non-empty event name" in result.failure.message
