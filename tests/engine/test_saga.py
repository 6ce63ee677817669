"""Sagas: compensation records, reverse-order undo, operator decisions, replay."""

from __future__ import annotations

import pytest

from workflows.engine import ActivityFailed, FanOutFailed, InstanceRef, execute, retry_failed
from workflows.engine import actions as act
from workflows.engine import events as ev

from .builders import episodes_of, recording_episodes, replay_then_apply, run_fresh


@pytest.fixture
def booking(registry):
    """Book a trip: hotel, flight, then a payment that may fail; undo in reverse."""
    undone = []

    @registry.activity(name="book")
    def book(ctx, what):
        return f"{what}-booked"

    @registry.activity(name="cancel")
    def cancel(ctx, what):
        undone.append((what, ctx.idempotency_key))
        return f"{what}-cancelled"

    @registry.activity(name="pay")
    def pay(ctx, amount):
        if amount > 100:
            raise ValueError(f"card declined for {amount}")
        return "paid"

    @registry.orchestrator(name="trip")
    def trip(ctx, amount):
        saga = ctx.saga()
        yield ctx.call_activity("book", "hotel")
        saga.add("cancel", "hotel", step="hotel")
        yield ctx.call_activity("book", "flight")
        saga.add("cancel", "flight", step="flight")
        try:
            return (yield ctx.call_activity("pay", amount))
        except ActivityFailed:
            outcomes = yield from saga.compensate()
            return {"undone": [[o.step, o.status, o.attempts] for o in outcomes]}

    return undone


def test_no_compensation_when_all_steps_succeed(booking, runner):
    iid = runner.start("trip", 50)
    runner.run_until_idle()
    assert runner.status(iid).output == "paid"
    assert [r["status"] for r in runner.compensations(iid)] == ["registered", "registered"]
    assert booking == []


def test_compensations_run_in_reverse_order(booking, runner):
    iid = runner.start("trip", 500)
    runner.run_until_idle()
    assert runner.status(iid).output == {
        "undone": [["flight", "compensated", 1], ["hotel", "compensated", 1]]
    }
    assert [what for what, _key in booking] == ["flight", "hotel"]
    records = runner.compensations(iid)
    assert [(r["step"], r["order"], r["status"]) for r in records] == [
        ("hotel", 1, "compensated"),
        ("flight", 2, "compensated"),
    ]
    # The idempotency key of a compensation is its compensation id.
    keys = {what: key for what, key in booking}
    assert keys["hotel"] == f"{iid}:1:comp:{records[0]['task_id']}"
    registered = [e for e in runner.status(iid).history if isinstance(e, ev.CompensationRegistered)]
    assert [(e.name, e.input, e.step, e.order) for e in registered] == [
        ("cancel", "hotel", "hotel", 1),
        ("cancel", "flight", "flight", 2),
    ]


def test_failed_compensation_waits_for_an_operator(booking, registry, make_runner):
    tries = []

    def flaky_cancel(ctx, what):
        tries.append(what)
        if what == "flight" and len(tries) == 1:
            raise ConnectionError("airline down")
        return f"{what}-cancelled"

    runner = make_runner(activities={"cancel": flaky_cancel})
    iid = runner.start("trip", 500)
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.status == "running"
    assert status.custom_status["state"] == "compensation_failed"
    assert status.custom_status["unresolved_step"] == "flight"
    assert "ConnectionError: airline down" in status.custom_status["error"]
    flight = runner.compensations(iid)[1]
    assert (flight["status"], flight["attempts"]) == ("failed", 1)
    assert flight["failure"].message == "airline down"

    runner.resolve_compensation(iid, flight["task_id"], "retry")
    runner.run_until_idle()
    assert runner.status(iid).output == {
        "undone": [["flight", "compensated", 2], ["hotel", "compensated", 1]]
    }
    assert tries == ["flight", "flight", "hotel"]


@pytest.mark.parametrize(
    ("decision", "status"), [("skip", "skipped"), ("resolve", "resolved_manually")]
)
def test_operator_can_skip_or_resolve_a_failed_compensation(booking, make_runner, decision, status):
    def broken_cancel(ctx, what):
        raise ConnectionError("down for good")

    runner = make_runner(activities={"cancel": broken_cancel})
    iid = runner.start("trip", 500)
    runner.run_until_idle()
    flight = runner.compensations(iid)[1]
    runner.resolve_compensation(iid, flight["task_id"], decision, by="ops", note="by phone")
    runner.run_until_idle()
    hotel = runner.compensations(iid)[0]
    runner.resolve_compensation(iid, hotel["task_id"], decision, by="ops", note="by phone")
    runner.run_until_idle()
    assert runner.status(iid).output == {"undone": [["flight", status, 1], ["hotel", status, 1]]}
    assert [r["status"] for r in runner.compensations(iid)] == [status, status]


def test_compensation_order_can_be_named(registry, runner):
    @registry.orchestrator(name="ordered")
    def ordered(ctx, _):
        saga = ctx.saga()
        for step in ("a", "b", "c"):
            saga.add("echo", step, step=step)
        outcomes = yield from saga.compensate(order=["b"])
        return [o.result for o in outcomes]

    iid = runner.start("ordered")
    runner.run_until_idle()
    assert runner.status(iid).output == ["b", "c", "a"]  # named first, the rest reversed


def test_compensation_order_naming_an_unknown_step_fails(registry, runner):
    @registry.orchestrator(name="ordered")
    def ordered(ctx, _):
        saga = ctx.saga()
        saga.add("echo", "a", step="a")
        yield from saga.compensate(order=["zzz"])

    iid = runner.start("ordered")
    runner.run_until_idle()
    failure = runner.status(iid).failure
    assert failure.type == "workflows.engine.errors.WorkflowCodeError"
    assert "['zzz'], which were never registered" in failure.message


def test_add_for_completed_and_retry_failed(registry, make_runner):
    attempts: dict[int, int] = {}

    def shaky(ctx, n):
        attempts[n] = attempts.get(n, 0) + 1
        if n % 2 and attempts[n] == 1:
            raise ConnectionError(f"{n} failed once")
        return n * 10

    @registry.orchestrator(name="batch")
    def batch(ctx, items):
        saga = ctx.saga()
        try:
            return (yield ctx.task_all([ctx.call_activity("shaky", n) for n in items]))
        except FanOutFailed as exc:
            registered = saga.add_for_completed(exc, "echo", lambda i, r: [i, r], step="undo")
            ctx.set_custom_status({"registered": registered})
            return (yield from retry_failed(ctx, exc, "shaky", items))

    runner = make_runner(activities={"shaky": shaky})
    iid = runner.start("batch", [1, 2, 3, 4])
    runner.run_until_idle()
    assert runner.status(iid).output == [10, 20, 30, 40]
    assert runner.status(iid).custom_status == {"registered": 2}
    steps = [(r["step"], r["input"]) for r in runner.compensations(iid)]
    assert steps == [("undo[1]", [1, 20]), ("undo[3]", [3, 40])]
    assert runner.activity_calls("shaky") == [1, 2, 3, 4, 1, 3]  # only the failed ones again


def test_saga_replays_and_kept_alive_state_matches(booking, registry, make_runner):
    calls = {"n": 0}

    def cancel_once_broken(ctx, what):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("first try fails")
        return what

    runner = make_runner(activities={"cancel": cancel_once_broken})
    with recording_episodes() as recorded:
        iid = runner.start("trip", 500)
        runner.run_until_idle()
        runner.resolve_compensation(iid, runner.compensations(iid)[1]["task_id"], "retry")
        runner.run_until_idle()
    assert runner.status(iid).status == "completed"
    episodes = episodes_of(recorded, iid)
    expected = [e.result for e in episodes]
    # Compensation state changes are reported once, live, never on replay.
    updates = [a for r in expected for a in r.actions if isinstance(a, act.UpdateCompensation)]
    assert [u.status for u in updates] == [
        "compensating",
        "failed",
        "compensating",
        "compensated",
        "compensating",
        "compensated",
    ]
    assert run_fresh(registry, episodes) == expected
    for split in range(len(episodes) + 1):
        assert replay_then_apply(registry, episodes, split)[1] == expected[split:]
    replayed = execute(registry, InstanceRef(iid), runner.status(iid).history, [])
    assert replayed.actions == ()
