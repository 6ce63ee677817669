"""WorkflowTestRunner: the in-memory runner with a fake clock that users test with."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import (
    ActivityContext,
    ActivityFailed,
    DurableError,
    SubOrchestrationFailed,
    UnknownOrchestratorError,
)
from workflows.engine import events as ev

from .builders import T0

HOUR = timedelta(hours=1)


@pytest.fixture
def order(registry):
    @registry.activity(name="charge_payment")
    def charge_payment(ctx, order):
        raise AssertionError("the real payment service must not be called in tests")

    @registry.orchestrator(name="order", version=1)
    def order_v1(ctx, order):
        return "v1"
        yield  # pragma: no cover

    @registry.orchestrator(name="order", version=2)
    def order(ctx, order):
        ctx.set_custom_status("charging")
        charge = yield ctx.call_activity(charge_payment, order)
        ctx.set_custom_status("waiting for shipment")
        yield ctx.create_timer(timedelta(hours=2))
        shipped = yield ctx.wait_for_external_event("shipped")
        return {"charge": charge, "shipped": shipped}

    return order


def test_start_returns_ids_and_status_snapshots(order, make_runner):
    runner = make_runner(activities={"charge_payment": lambda ctx, o: f"ch_{o['id']}"})
    first = runner.start("order", {"id": 1})
    second = runner.start(order, {"id": 2}, instance_id="order-2")
    assert (first, second) == ("test-1", "order-2")
    assert runner.instance_ids() == ["test-1", "order-2"]
    assert runner.status(first).status == "pending"  # nothing ran yet

    runner.run_until_idle()
    status = runner.status(first)
    assert (status.instance_id, status.name, status.version) == ("test-1", "order", 2)
    assert status.status == "running"
    assert status.custom_status == "waiting for shipment"
    assert status.output is None and status.failure is None
    assert status.execution == 1
    assert isinstance(status.history[0], ev.OrchestratorStarted)
    assert status.history[0].timestamp == T0
    assert runner.activity_calls("charge_payment") == [{"id": 1}, {"id": 2}]

    runner.advance(2 * HOUR)
    runner.raise_event(first, "shipped", "DHL-1")
    runner.run_until_idle()
    status = runner.status(first)
    assert status.status == "completed"
    assert status.output == {"charge": "ch_1", "shipped": "DHL-1"}
    assert runner.status(second).status == "running"  # no event for it yet


def test_status_history_is_a_copy(order, make_runner):
    runner = make_runner(activities={"charge_payment": lambda ctx, o: "ch"})
    iid = runner.start("order", {"id": 1})
    runner.run_until_idle()
    runner.status(iid).history.clear()
    assert runner.status(iid).history


def test_start_a_named_version(order, runner):
    iid = runner.start("order", {}, version=1)
    runner.run_until_idle()
    status = runner.status(iid)
    assert (status.version, status.output) == (1, "v1")


def test_start_unknown_orchestrator(runner):
    with pytest.raises(UnknownOrchestratorError):
        runner.start("nope")


def test_duplicate_instance_id_is_rejected(order, runner):
    runner.start("order", {}, instance_id="same")
    with pytest.raises(DurableError, match="'same' already exists"):
        runner.start("order", {}, instance_id="same")


def test_unknown_instance_is_rejected(runner):
    for call in (runner.status, lambda i: runner.raise_event(i, "x"), runner.terminate):
        with pytest.raises(DurableError, match="No instance 'ghost'"):
            call("ghost")


def test_advance_fires_only_due_timers(order, make_runner):
    runner = make_runner(activities={"charge_payment": lambda ctx, o: "ch"})
    iid = runner.start("order", {})
    runner.run_until_idle()
    runner.raise_event(iid, "shipped", "early")  # buffered until the timer fired
    runner.advance(HOUR)
    assert runner.clock == T0 + HOUR
    assert runner.status(iid).status == "running"
    runner.advance(HOUR)
    assert runner.status(iid).output == {"charge": "ch", "shipped": "early"}


def test_auto_advance_jumps_to_each_timer(order, make_runner):
    runner = make_runner(activities={"charge_payment": lambda ctx, o: "ch"})
    iid = runner.start("order", {})
    runner.raise_event(iid, "shipped", "x")
    runner.run_until_idle(auto_advance=True)
    assert runner.status(iid).status == "completed"
    assert runner.clock == T0 + 2 * HOUR


def test_fakes_replace_registered_activities_and_see_the_context(registry, make_runner):
    seen: list[ActivityContext] = []

    @registry.activity(name="send_mail")
    def send_mail(ctx, to):
        raise AssertionError("not in tests")

    def fake_send_mail(ctx, to):
        seen.append(ctx)
        return f"sent to {to}"

    @registry.orchestrator(name="notify")
    def notify(ctx, to):
        return (yield ctx.call_activity(send_mail, to))

    runner = make_runner(activities={send_mail: fake_send_mail})
    iid = runner.start("notify", "ann@example.com", instance_id="n-1")
    runner.run_until_idle()
    assert runner.status(iid).output == "sent to ann@example.com"
    [ctx] = seen
    assert (ctx.instance_id, ctx.name, ctx.attempt, ctx.task_id) == ("n-1", "send_mail", 1, 1)
    assert ctx.execution_id == "1"
    assert ctx.idempotency_key == "n-1:1:1"
    assert runner.activity_calls(send_mail) == ["ann@example.com"]


def test_fake_for_an_unregistered_activity(registry, make_runner):
    @registry.orchestrator(name="lookup")
    def lookup(ctx, key):
        return (yield ctx.call_activity("crm_lookup", key))

    runner = make_runner(activities={"crm_lookup": lambda ctx, key: {"key": key, "vip": True}})
    iid = runner.start("lookup", "c-9")
    runner.run_until_idle()
    assert runner.status(iid).output == {"key": "c-9", "vip": True}


def test_missing_activity_fails_the_call(registry, runner):
    @registry.orchestrator(name="lookup")
    def lookup(ctx, key):
        try:
            yield ctx.call_activity("crm_lookup", key)
        except ActivityFailed as exc:
            return exc.failure.type

    iid = runner.start("lookup", "c-9")
    runner.run_until_idle()
    assert runner.status(iid).output == "workflows.engine.errors.UnknownActivityError"


def test_missing_sub_orchestrator_fails_the_call(registry, runner):
    @registry.orchestrator(name="parent")
    def parent(ctx, _):
        try:
            yield ctx.call_sub_orchestrator("not_there")
        except SubOrchestrationFailed as exc:
            return exc.failure.type

    iid = runner.start("parent")
    runner.run_until_idle()
    assert runner.status(iid).output == "workflows.engine.errors.UnknownOrchestratorError"


def test_terminate_stops_the_instance_and_its_children(registry, runner):
    @registry.orchestrator(name="child")
    def child(ctx, _):
        yield ctx.wait_for_external_event("never")

    @registry.orchestrator(name="parent")
    def parent(ctx, _):
        yield ctx.call_sub_orchestrator("child")

    iid = runner.start("parent", instance_id="p")
    runner.run_until_idle()
    assert runner.status("p:1:1").status == "running"
    runner.terminate(iid, "cancelled by ops")
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.status == "terminated"
    assert status.failure.type == "Terminated"
    assert status.failure.message == "cancelled by ops"
    assert isinstance(status.history[-1], ev.ExecutionTerminated)
    child_status = runner.status("p:1:1")
    assert child_status.status == "terminated"
    assert child_status.failure.message == "parent terminated: cancelled by ops"
    with pytest.raises(DurableError, match="already terminated"):
        runner.raise_event(iid, "x")
    with pytest.raises(DurableError, match="already terminated"):
        runner.terminate(iid)


def test_terminated_child_fails_the_parent_call(registry, runner):
    @registry.orchestrator(name="child")
    def child(ctx, _):
        yield ctx.wait_for_external_event("never")

    @registry.orchestrator(name="parent")
    def parent(ctx, _):
        try:
            yield ctx.call_sub_orchestrator("child", instance_id="kid")
        except SubOrchestrationFailed as exc:
            return exc.failure.summary()

    iid = runner.start("parent")
    runner.run_until_idle()
    runner.terminate("kid", "not needed")
    runner.run_until_idle()
    assert runner.status(iid).output == "Terminated: not needed"


def test_events_to_finished_instances_are_rejected(registry, runner):
    @registry.orchestrator(name="quick")
    def quick(ctx, _):
        return (yield ctx.call_activity("echo", "done"))

    iid = runner.start("quick")
    runner.run_until_idle()
    with pytest.raises(DurableError, match="already completed"):
        runner.raise_event(iid, "late")


def test_run_until_idle_gives_up_on_an_endless_workflow(registry, runner):
    @registry.orchestrator(name="forever")
    def forever(ctx, n):
        yield ctx.call_activity("echo", n)
        ctx.continue_as_new(n + 1)

    runner.start("forever", 0)
    with pytest.raises(DurableError, match="did not settle within 50 steps"):
        runner.run_until_idle(max_steps=50)


def test_raised_event_data_must_be_json(registry, runner):
    @registry.orchestrator(name="wait")
    def wait(ctx, _):
        yield ctx.wait_for_external_event("go")

    iid = runner.start("wait")
    with pytest.raises(TypeError, match="event data is not JSON-serializable"):
        runner.raise_event(iid, "go", {1, 2})


def test_every_episode_replays_the_whole_history(registry, runner):
    calls = []

    @registry.orchestrator(name="counted")
    def counted(ctx, _):
        calls.append("start")
        for n in range(3):
            yield ctx.call_activity("echo", n)

    runner.start("counted")
    runner.run_until_idle()
    # One generator start per episode: the runner replays from scratch each time.
    assert calls == ["start"] * 4
