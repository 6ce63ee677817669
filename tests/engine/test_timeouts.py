"""Activity timeouts in the engine: options, which deadline passed, the failure it
records, how retries and orchestrators treat it, and replay of older histories. No
database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import (
    ActivityFailed,
    ActivityTimedOut,
    InstanceRef,
    Orchestration,
    RegistrationError,
    Registry,
    RetryPolicy,
    WorkflowCodeError,
    execute,
)
from workflows.engine import actions as act
from workflows.engine import events as ev
from workflows.engine.retry import next_retry_delay
from workflows.engine.timeouts import (
    HEARTBEAT_TIMEOUT,
    START_TO_CLOSE,
    ActivityTimeouts,
    timed_out,
    to_seconds,
    which_timed_out,
)

from .builders import T0, History, failure_of

S = timedelta(seconds=1)
REF = InstanceRef("timeouts-1")


# -- options -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), (5, 5.0), (0.5, 0.5), (timedelta(minutes=2), 120.0)],
)
def test_timeouts_are_seconds_or_timedeltas(value, seconds):
    assert to_seconds(value, "start_to_close") == seconds


@pytest.mark.parametrize("value", [0, -1, timedelta(0), "30", True, float("inf"), float("nan")])
def test_bad_timeouts_are_refused_naming_the_option(value):
    with pytest.raises(ValueError, match="heartbeat_timeout"):
        to_seconds(value, "heartbeat_timeout")


def test_a_call_wins_option_by_option_over_the_decorator():
    declared = ActivityTimeouts(start_to_close=60, heartbeat_timeout=10)
    assert ActivityTimeouts(start_to_close=5).over(declared) == ActivityTimeouts(5, 10)
    assert ActivityTimeouts().over(declared) == declared
    assert ActivityTimeouts(heartbeat_timeout=2).over(ActivityTimeouts()) == ActivityTimeouts(
        None, 2
    )


def test_the_decorator_takes_timeouts_and_refuses_bad_ones():
    registry = Registry()

    @registry.activity(name="slow", start_to_close=timedelta(minutes=1), heartbeat_timeout=5)
    def slow(ctx, _):
        return None

    assert registry.activity_timeouts("slow") == ActivityTimeouts(60.0, 5.0)
    assert registry.get_activity("slow").options == {}  # limits stay apart from timeouts
    assert registry.activity_timeouts("unknown") == ActivityTimeouts()
    with pytest.raises(RegistrationError, match="'bad'.*start_to_close"):
        registry.add_activity(lambda ctx, x: x, "bad", start_to_close=-1)


# -- which deadline passed -------------------------------------------------------------------
def test_start_to_close_counts_from_the_start_of_the_run():
    limits = ActivityTimeouts(start_to_close=30)
    assert which_timed_out(limits, T0 + 30 * S, T0) is None
    assert which_timed_out(limits, T0 + 31 * S, T0) == START_TO_CLOSE
    # heartbeats do not extend it
    assert which_timed_out(limits, T0 + 31 * S, T0, heartbeat_at=T0 + 30 * S) == START_TO_CLOSE


def test_heartbeat_timeout_counts_from_the_later_of_start_and_last_heartbeat():
    limits = ActivityTimeouts(heartbeat_timeout=10)
    assert which_timed_out(limits, T0 + 10 * S, T0) is None
    assert which_timed_out(limits, T0 + 11 * S, T0) == HEARTBEAT_TIMEOUT
    assert which_timed_out(limits, T0 + 11 * S, T0, heartbeat_at=T0 + 5 * S) is None
    assert which_timed_out(limits, T0 + 16 * S, T0, heartbeat_at=T0 + 5 * S) == HEARTBEAT_TIMEOUT
    # a heartbeat of an earlier attempt (before this run started) does not shorten it
    assert which_timed_out(limits, T0 + 10 * S, T0, heartbeat_at=T0 - 60 * S) is None


def test_no_timeouts_never_time_out_and_start_to_close_is_named_first():
    assert which_timed_out(ActivityTimeouts(), T0 + timedelta(days=9), T0) is None
    both = ActivityTimeouts(start_to_close=5, heartbeat_timeout=5)
    assert which_timed_out(both, T0 + 6 * S, T0) == START_TO_CLOSE


def test_the_failure_is_a_classified_activity_timed_out():
    failure = timed_out("fetch", HEARTBEAT_TIMEOUT, ActivityTimeouts(heartbeat_timeout=2.5))
    assert failure.type == "workflows.engine.errors.ActivityTimedOut"
    assert failure.is_instance_of(ActivityTimedOut) and failure.is_instance_of(ActivityFailed)
    assert not failure.non_retryable
    assert "'fetch'" in failure.message and "heartbeat_timeout of 2.5 s" in failure.message
    other = timed_out("fetch", START_TO_CLOSE, ActivityTimeouts(start_to_close=30))
    assert "start_to_close of 30 s" in other.message
    with pytest.raises(ValueError):
        timed_out("fetch", "forever", ActivityTimeouts())


# -- the retry decision ---------------------------------------------------------------------------
def test_a_policy_retries_a_timeout_like_other_transient_failures():
    failure = timed_out("fetch", START_TO_CLOSE, ActivityTimeouts(start_to_close=1))
    policy = RetryPolicy(max_attempts=3, first_retry=S)
    assert next_retry_delay(policy, 1, failure, timedelta(0)) == S
    assert next_retry_delay(policy, 3, failure, timedelta(0)) is None


@pytest.mark.parametrize(
    "listed", [ActivityTimedOut, "workflows.engine.errors.ActivityTimedOut"], ids=["class", "name"]
)
def test_unless_the_policy_lists_it_as_non_retryable(listed):
    failure = timed_out("fetch", START_TO_CLOSE, ActivityTimeouts(start_to_close=1))
    policy = RetryPolicy(max_attempts=3, non_retryable=(listed,))
    assert next_retry_delay(policy, 1, failure, timedelta(0)) is None
    # other failures are still retried
    assert next_retry_delay(policy, 1, failure_of(ConnectionError()), timedelta(0)) == S


# -- in orchestrations ------------------------------------------------------------------
def scheduled(result) -> list[act.ScheduleActivity]:
    return [a for a in result.actions if isinstance(a, act.ScheduleActivity)]


def test_timeouts_travel_in_the_action_the_call_winning(registry):
    @registry.activity(name="slow", start_to_close=60, heartbeat_timeout=10)
    def slow(ctx, _):
        return None

    @registry.orchestrator(name="calls")
    def calls(ctx, _):
        yield ctx.task_all(
            [
                ctx.call_activity("slow"),
                ctx.call_activity("slow", start_to_close=timedelta(seconds=5)),
                ctx.call_activity("echo", 1, heartbeat_timeout=3),
                ctx.call_activity("echo", 2),
            ]
        )

    history = History().episode().started("calls").events
    result = execute(registry, REF, [], history)
    assert [(a.start_to_close, a.heartbeat_timeout) for a in scheduled(result)] == [
        (60.0, 10.0),
        (5.0, 10.0),
        (None, 3.0),
        (None, None),
    ]
    # ... and into history, where the timeline shows them
    recorded = [e for e in result.new_history if isinstance(e, ev.ActivityScheduled)]
    assert [(e.start_to_close, e.heartbeat_timeout) for e in recorded][:2] == [
        (60.0, 10.0),
        (5.0, 10.0),
    ]


def test_a_bad_timeout_in_a_call_fails_the_orchestration(registry):
    @registry.orchestrator(name="bad_call")
    def bad_call(ctx, _):
        yield ctx.call_activity("echo", 1, start_to_close="soon")

    result = execute(registry, REF, [], History().episode().started("bad_call").events)
    assert result.status == "failed"
    assert result.failure.is_instance_of(WorkflowCodeError)
    assert "start_to_close" in result.failure.message


def test_every_retry_attempt_gets_the_timeouts(registry):
    policy = RetryPolicy(max_attempts=3, first_retry=S)

    @registry.orchestrator(name="retried")
    def retried(ctx, _):
        return (yield ctx.call_activity("echo", 1, retry=policy, start_to_close=7))

    failure = timed_out("echo", START_TO_CLOSE, ActivityTimeouts(start_to_close=7))
    h = History().episode().started("retried")
    h.events.append(ev.ActivityScheduled(1, "echo", 1, 1, 1, None, 7.0))
    h.episode(8).events.append(ev.ActivityFailedEvent(1, failure))
    h.timer(2, 1, "retry").episode(1).fired(2)
    orchestration = Orchestration(registry, REF)
    orchestration.replay(h.events[:-2])
    result = orchestration.apply(h.events[-1:], T0 + 9 * S)
    (again,) = scheduled(result)
    assert (again.attempt, again.call_id, again.start_to_close) == (2, 1, 7.0)


def test_an_orchestrator_catches_activity_timed_out(registry):
    @registry.orchestrator(name="catches")
    def catches(ctx, _):
        try:
            yield ctx.call_activity("echo", 1, heartbeat_timeout=3)
        except ActivityTimedOut as exc:
            return {"timed_out": exc.name, "message": str(exc)}
        return "no timeout"

    failure = timed_out("echo", HEARTBEAT_TIMEOUT, ActivityTimeouts(heartbeat_timeout=3))
    h = History().episode().started("catches")
    h.events.append(ev.ActivityScheduled(1, "echo", 1, 1, 1, None, None, 3.0))
    result = execute(registry, REF, h.events, [ev.ActivityFailedEvent(1, failure)], T0 + 5 * S)
    assert result.status == "completed"
    assert result.output["timed_out"] == "echo"
    message = result.output["message"]
    assert "timed out" in message and "heartbeat_timeout" in message


def test_after_the_last_attempt_the_orchestrator_still_sees_activity_timed_out(
    make_runner, registry
):
    policy = RetryPolicy(max_attempts=2, first_retry=S)

    @registry.orchestrator(name="gives_up")
    def gives_up(ctx, _):
        try:
            yield ctx.call_activity("hangs", None, retry=policy, start_to_close=1)
        except ActivityTimedOut as exc:
            return {"attempts": exc.attempts, "type": type(exc).__name__}

    def hangs(ctx, _):  # the in-memory runner cannot hang: report what the sweeper would
        raise ActivityTimedOut("hangs", timed_out("hangs", START_TO_CLOSE, ActivityTimeouts(1)))

    runner = make_runner(activities={"hangs": hangs})
    iid = runner.start("gives_up")
    runner.run_until_idle(auto_advance=True)
    assert runner.status(iid).output == {"attempts": 2, "type": "ActivityTimedOut"}


def test_other_activity_failures_stay_activity_failed(registry):
    @registry.orchestrator(name="plain")
    def plain(ctx, _):
        try:
            yield ctx.call_activity("boom", "x")
        except ActivityTimedOut:
            return "timed out"
        except ActivityFailed:
            return "failed"

    h = History().episode().started("plain").scheduled(1, "boom", "x")
    result = execute(
        registry, REF, h.events, [ev.ActivityFailedEvent(1, failure_of(ValueError("x")))]
    )
    assert result.output == "failed"


# -- replay compatibility ----------------------------------------------------------------
def test_a_history_recorded_before_timeouts_replays_against_code_with_them(registry):
    @registry.activity(name="slow", start_to_close=60)
    def slow(ctx, _):
        return None

    @registry.orchestrator(name="chain")
    def chain(ctx, _):
        first = yield ctx.call_activity("slow", 1, heartbeat_timeout=5)
        return (yield ctx.call_activity("echo", first))

    # As stored before the fields existed: the payloads have no timeout keys at all.
    def old(task_id, name, input):
        payload = {"task_id": task_id, "name": name, "input": input, "attempt": 1}
        return ev.event_from_payload("activity_scheduled", {**payload, "call_id": task_id})

    assert (old(1, "slow", 1).start_to_close, old(1, "slow", 1).heartbeat_timeout) == (None, None)
    history = History().episode().started("chain").events + [old(1, "slow", 1)]
    history += History().episode(1).completed(1, "one").events + [old(2, "echo", "one")]
    result = execute(registry, REF, history, [ev.ActivityCompleted(2, "two")], T0 + 2 * S)
    assert result.status == "completed" and result.output == "two"  # no NonDeterminismError


def test_changed_timeouts_do_not_break_replay(registry):
    @registry.orchestrator(name="one")
    def one(ctx, _):
        return (yield ctx.call_activity("echo", 1, start_to_close=5))

    recorded = ev.ActivityScheduled(1, "echo", 1, 1, 1, None, 300.0, 20.0)
    history = History().episode().started("one").events + [recorded]
    result = execute(registry, REF, history, [ev.ActivityCompleted(1, 1)], T0 + S)
    assert result.status == "completed" and result.output == 1


def test_timeout_fields_survive_storage():
    event = ev.ActivityScheduled(3, "slow", None, 2, 1, None, 1.5, 30.0)
    stored = ev.event_to_payload(event)
    assert stored["start_to_close"] == 1.5 and stored["heartbeat_timeout"] == 30.0
    assert ev.event_from_payload("activity_scheduled", stored) == event
