"""Retry policies: the pure backoff maths, classification, and durable retries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import (
    ActivityFailed,
    FailureDetails,
    NonRetryableError,
    RegistrationError,
    RetryPolicy,
)
from workflows.engine import events as ev
from workflows.engine.retry import backoff_delay, is_retryable, next_retry_delay

from .builders import T0, Flaky, failure_of

S = timedelta(seconds=1)


class Declined(NonRetryableError):
    """A card decline: retrying cannot help."""


class ShipmentLost(LookupError):
    pass


class PartialShipmentLost(ShipmentLost):
    pass


# -- backoff maths ------------------------------------------------------------------


@pytest.mark.parametrize(("failed_attempt", "seconds"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)])
def test_backoff_doubles_by_default(failed_attempt, seconds):
    policy = RetryPolicy(max_attempts=10, first_retry=S)
    assert backoff_delay(policy, failed_attempt) == timedelta(seconds=seconds)


def test_backoff_coefficient():
    policy = RetryPolicy(max_attempts=10, first_retry=10 * S, backoff_coefficient=1.5)
    assert [backoff_delay(policy, n) for n in (1, 2, 3)] == [
        timedelta(seconds=10),
        timedelta(seconds=15),
        timedelta(seconds=22.5),
    ]


def test_constant_backoff_with_coefficient_one():
    policy = RetryPolicy(max_attempts=10, first_retry=3 * S, backoff_coefficient=1)
    assert {backoff_delay(policy, n) for n in range(1, 8)} == {3 * S}


def test_max_retry_interval_caps_the_delay():
    policy = RetryPolicy(max_attempts=20, first_retry=S, max_retry_interval=10 * S)
    delays = [backoff_delay(policy, n) for n in range(1, 8)]
    assert delays == [1 * S, 2 * S, 4 * S, 8 * S, 10 * S, 10 * S, 10 * S]


def test_next_retry_delay_gives_up_at_max_attempts():
    policy = RetryPolicy(max_attempts=3, first_retry=S)
    failure = failure_of(ConnectionError("down"))
    assert next_retry_delay(policy, 1, failure, timedelta(0)) == 1 * S
    assert next_retry_delay(policy, 2, failure, timedelta(0)) == 2 * S
    assert next_retry_delay(policy, 3, failure, timedelta(0)) is None
    assert next_retry_delay(policy, 4, failure, timedelta(0)) is None


def test_single_attempt_policy_never_retries():
    policy = RetryPolicy(max_attempts=1)
    assert next_retry_delay(policy, 1, failure_of(ConnectionError()), timedelta(0)) is None


def test_retry_timeout_bounds_elapsed_time_plus_next_delay():
    policy = RetryPolicy(max_attempts=10, first_retry=10 * S, retry_timeout=60 * S)
    failure = failure_of(ConnectionError("down"))
    # elapsed 40 s + next delay 20 s = 60 s: still within the timeout.
    assert next_retry_delay(policy, 2, failure, 40 * S) == 20 * S
    # elapsed 41 s + 20 s would end after the timeout: give up.
    assert next_retry_delay(policy, 2, failure, 41 * S) is None


def test_non_retryable_error_subclasses_are_never_retried():
    policy = RetryPolicy(max_attempts=10)
    failure = failure_of(Declined("card declined"))
    assert failure.non_retryable
    assert not is_retryable(policy, failure)
    assert next_retry_delay(policy, 1, failure, timedelta(0)) is None


@pytest.mark.parametrize(
    "non_retryable",
    [
        (ShipmentLost,),
        (f"{ShipmentLost.__module__}.{ShipmentLost.__qualname__}",),
        (KeyError, ShipmentLost),
    ],
    ids=["class", "qualified-name", "among-others"],
)
def test_policy_non_retryable_matches_class_or_qualified_name(non_retryable):
    policy = RetryPolicy(max_attempts=5, non_retryable=non_retryable)
    assert not is_retryable(policy, failure_of(ShipmentLost("gone")))
    assert is_retryable(policy, failure_of(ConnectionError("flaky")))


def test_policy_non_retryable_matches_subclasses_through_type_names():
    failure = failure_of(PartialShipmentLost("half gone"))
    base = f"{ShipmentLost.__module__}.{ShipmentLost.__qualname__}"
    assert base in failure.type_names
    assert "LookupError" in failure.type_names  # builtins keep their bare name
    assert not is_retryable(RetryPolicy(5, non_retryable=(ShipmentLost,)), failure)
    assert not is_retryable(RetryPolicy(5, non_retryable=("LookupError",)), failure)
    # ... but not the other way round: a base-class failure does not match a subclass.
    assert is_retryable(
        RetryPolicy(5, non_retryable=(PartialShipmentLost,)), failure_of(ShipmentLost("x"))
    )


def test_non_retryable_list_is_stored_as_tuple():
    policy = RetryPolicy(max_attempts=2, non_retryable=[ValueError])  # type: ignore[arg-type]
    assert policy.non_retryable == (ValueError,)
    hash(policy)  # frozen and hashable


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be >= 1"),
        ({"max_attempts": 2, "first_retry": timedelta(0)}, "first_retry must be a positive"),
        ({"max_attempts": 2, "backoff_coefficient": 0.5}, "backoff_coefficient must be >= 1"),
        (
            {"max_attempts": 2, "first_retry": 10 * S, "max_retry_interval": S},
            "max_retry_interval must be >= first_retry",
        ),
    ],
)
def test_invalid_policies_are_rejected(kwargs, message):
    with pytest.raises(RegistrationError, match=message):
        RetryPolicy(**kwargs)


# -- durable retries in the runner ---------------------------------------------------


def test_flaky_activity_is_retried_with_durable_timers(registry, make_runner):
    policy = RetryPolicy(max_attempts=5, first_retry=10 * S)

    @registry.orchestrator(name="pay")
    def pay(ctx, succeed_on):
        return (yield ctx.call_activity("flaky", succeed_on, retry=policy))

    keys, attempts = [], []

    def flaky(ctx, succeed_on):
        keys.append(ctx.idempotency_key)
        attempts.append(ctx.attempt)
        if ctx.attempt < succeed_on:
            raise ConnectionError(f"attempt {ctx.attempt} failed")
        return "paid"

    runner = make_runner(activities={"flaky": flaky})
    iid = runner.start("pay", 3)
    runner.run_until_idle()
    # The first attempt failed; the retry waits on a durable timer (10 s).
    assert attempts == [1]
    assert runner.status(iid).status == "running"
    runner.advance(9 * S)
    assert attempts == [1]
    runner.advance(1 * S)
    assert attempts == [1, 2]
    runner.advance(20 * S)  # the second backoff is 20 s
    assert attempts == [1, 2, 3]

    status = runner.status(iid)
    assert status.status == "completed"
    assert status.output == "paid"
    history = status.history
    scheduled = [e for e in history if isinstance(e, ev.ActivityScheduled)]
    timers = [e for e in history if isinstance(e, ev.TimerCreated)]
    assert [e.attempt for e in scheduled] == [1, 2, 3]
    assert {e.call_id for e in scheduled} == {scheduled[0].task_id}
    assert [t.purpose for t in timers] == ["retry", "retry"]
    assert [t.fire_at - T0 for t in timers] == [10 * S, 30 * S]
    # One idempotency key for every attempt of the call.
    assert len(set(keys)) == 1
    assert keys[0] == f"{iid}:1:{scheduled[0].task_id}"
    # Attempts and backoff timers alternate in history.
    kinds = [
        type(e).__name__
        for e in history
        if isinstance(e, ev.ActivityScheduled | ev.ActivityFailedEvent | ev.TimerCreated)
    ]
    assert kinds == [
        "ActivityScheduled",
        "ActivityFailedEvent",
        "TimerCreated",
        "ActivityScheduled",
        "ActivityFailedEvent",
        "TimerCreated",
        "ActivityScheduled",
    ]


def test_retries_exhausted_raise_activity_failed_with_attempts(registry, runner):
    policy = RetryPolicy(max_attempts=3, first_retry=S)

    @registry.orchestrator(name="pay")
    def pay(ctx, _):
        try:
            yield ctx.call_activity("flaky", 99, retry=policy)
        except ActivityFailed as exc:
            return {
                "name": exc.name,
                "attempts": exc.attempts,
                "type": exc.failure.type,
                "message": str(exc),
                "has_traceback": "Traceback" in exc.failure.traceback,
            }

    iid = runner.start("pay")
    runner.run_until_idle(auto_advance=True)
    output = runner.status(iid).output
    assert output["name"] == "flaky"
    assert output["attempts"] == 3
    assert output["type"] == f"{Flaky.__module__}.Flaky"
    assert output["message"].startswith("Activity 'flaky' failed after 3 attempts: Flaky:")
    assert output["has_traceback"]
    assert runner.activity_calls("flaky") == [99, 99, 99]


def test_uncaught_exhausted_retry_fails_the_orchestration(registry, runner):
    @registry.orchestrator(name="pay")
    def pay(ctx, _):
        yield ctx.call_activity("flaky", 99, retry=RetryPolicy(max_attempts=2))

    iid = runner.start("pay")
    runner.run_until_idle(auto_advance=True)
    status = runner.status(iid)
    assert status.status == "failed"
    assert status.failure.type == "workflows.engine.errors.ActivityFailed"
    assert "after 2 attempts" in status.failure.message


def test_non_retryable_error_is_not_retried(registry, runner):
    @registry.activity(name="charge")
    def charge(ctx, amount):
        raise Declined(f"declined {amount}")

    @registry.orchestrator(name="pay")
    def pay(ctx, _):
        try:
            yield ctx.call_activity("charge", 5, retry=RetryPolicy(max_attempts=5))
        except ActivityFailed as exc:
            return [exc.attempts, exc.failure.non_retryable]

    iid = runner.start("pay")
    runner.run_until_idle(auto_advance=True)
    assert runner.status(iid).output == [1, True]
    assert runner.activity_calls("charge") == [5]
    assert not any(isinstance(e, ev.TimerCreated) for e in runner.status(iid).history)


def test_policy_non_retryable_types_are_not_retried(registry, runner):
    @registry.activity(name="ship")
    def ship(ctx, _):
        raise PartialShipmentLost("lost")

    @registry.orchestrator(name="send")
    def send(ctx, _):
        policy = RetryPolicy(max_attempts=5, non_retryable=(ShipmentLost,))
        try:
            yield ctx.call_activity("ship", retry=policy)
        except ActivityFailed as exc:
            return exc.attempts

    iid = runner.start("send")
    runner.run_until_idle(auto_advance=True)
    assert runner.status(iid).output == 1
    assert len(runner.activity_calls("ship")) == 1


def test_retry_timeout_stops_retrying_in_the_runner(registry, runner):
    policy = RetryPolicy(max_attempts=10, first_retry=10 * S, retry_timeout=35 * S)

    @registry.orchestrator(name="pay")
    def pay(ctx, _):
        try:
            yield ctx.call_activity("flaky", 99, retry=policy)
        except ActivityFailed as exc:
            return exc.attempts

    iid = runner.start("pay")
    runner.run_until_idle(auto_advance=True)
    # Attempts at 0 s, 10 s, 30 s; the next delay (40 s) would end after 35 s.
    assert runner.status(iid).output == 3


def test_retry_actions_carry_attempt_and_call_id(registry, runner):
    @registry.orchestrator(name="pay")
    def pay(ctx, _):
        yield ctx.call_activity("echo", "before")
        return (yield ctx.call_activity("flaky", 2, retry=RetryPolicy(max_attempts=3)))

    iid = runner.start("pay")
    runner.run_until_idle(auto_advance=True)
    history = runner.status(iid).history
    flaky = [e for e in history if isinstance(e, ev.ActivityScheduled) and e.name == "flaky"]
    assert [(e.attempt, e.call_id) for e in flaky] == [(1, 2), (2, 2)]
    assert flaky[1].task_id == 4  # task 3 is the backoff timer
    assert runner.status(iid).output == "ok on attempt 2"


def test_failure_details_non_retryable_flag_survives_serialization():
    details = failure_of(Declined("no"))
    again = FailureDetails.from_dict(details.to_dict())
    assert again == details
    assert not is_retryable(RetryPolicy(3), again)
