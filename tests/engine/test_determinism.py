"""Non-determinism detection, and ``is_patched`` for changing code safely."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import (
    InstanceRef,
    NonDeterminismError,
    Orchestration,
    OrchestrationStatus,
    Registry,
    execute,
)
from workflows.engine import events as ev

from .builders import T0, History, assert_history_shape, kinds, split_episodes

REF = InstanceRef("order-42")


def replay_error(registry: Registry, history: list[ev.HistoryEvent]) -> NonDeterminismError:
    with pytest.raises(NonDeterminismError) as caught:
        execute(registry, REF, history, [])
    return caught.value


def assert_names_both_sides(error: NonDeterminismError, step: int, recorded: str, produced: str):
    assert error.instance_id == "order-42"
    assert error.step == step
    assert recorded in error.recorded
    assert produced in error.produced
    message = str(error)
    assert "'order-42'" in message
    assert f"at step {step}" in message
    assert recorded in message and produced in message
    assert "Check that the orchestrator is deterministic" in message
    assert "register the changed code as a new version" in message


def two_steps() -> History:
    h = History().episode().started("order").scheduled(1, "reserve")
    return h.episode(1).completed(1, "r").scheduled(2, "charge")


def test_different_activity_name_at_a_step(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")
        yield ctx.call_activity("charge_card")  # renamed since the history was recorded

    error = replay_error(registry, two_steps().events)
    assert_names_both_sides(error, 2, "activity 'charge'", "activity 'charge_card'")


def test_different_action_type_at_a_step(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")
        yield ctx.create_timer(timedelta(minutes=1))  # was an activity

    error = replay_error(registry, two_steps().events)
    assert_names_both_sides(error, 2, "activity 'charge'", "a timer at 2026-01-01T00:01:01")


def test_timer_replaced_by_an_activity(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")

    history = History().episode().started("order").timer(1, 60).events
    error = replay_error(registry, history)
    assert_names_both_sides(error, 1, "a timer at 2026-01-01T00:01:00", "activity 'reserve'")


def test_reordered_activities(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.task_all([ctx.call_activity("charge"), ctx.call_activity("reserve")])

    history = History().episode().started("order").scheduled(1, "reserve").scheduled(2, "charge")
    error = replay_error(registry, history.events)
    assert_names_both_sides(error, 1, "activity 'reserve'", "activity 'charge'")


def test_sub_orchestration_renamed(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_sub_orchestrator("shipping_v2")

    history = History().episode().started("order")
    history.events.append(ev.SubOrchestrationCreated(1, "shipping", "order-42:1"))
    error = replay_error(registry, history.events)
    assert_names_both_sides(
        error, 1, "sub-orchestration 'shipping'", "sub-orchestration 'shipping_v2'"
    )


def test_extra_action_where_history_ended(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")
        yield ctx.task_all([ctx.call_activity("charge"), ctx.call_activity("notify")])

    error = replay_error(registry, two_steps().events)
    assert_names_both_sides(
        error, 3, "nothing more at this step (history ends here)", "activity 'notify'"
    )


def test_code_producing_nothing_where_history_has_a_step(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")  # used to start "charge" in parallel

    history = History().episode().started("order").scheduled(1, "reserve").scheduled(2, "charge")
    error = replay_error(registry, history.events)
    assert_names_both_sides(error, 2, "activity 'charge'", "nothing at this step")


def test_code_finishing_where_history_has_more_steps(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")
        return "done early"

    error = replay_error(registry, two_steps().events)
    assert_names_both_sides(
        error, 2, "activity 'charge'", "no further step (the orchestrator finished)"
    )


def test_code_finishing_before_history_did(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")
        return "done early"

    h = two_steps().episode(1).completed(2, "c").finished("done")
    with pytest.raises(NonDeterminismError, match="the orchestrator finished"):
        execute(registry, REF, h.events, [])


def test_history_ended_but_the_code_still_waits(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")
        yield ctx.wait_for_external_event("shipped")  # used to return right away

    h = History().episode().started("order").scheduled(1, "reserve")
    h.episode(1).completed(1, "r").finished("r")
    error = replay_error(registry, h.events)
    assert_names_both_sides(
        error,
        2,
        "the end of the orchestration (ExecutionCompleted)",
        "no end (the orchestrator still waits for a task)",
    )


def test_non_determinism_in_a_kept_alive_orchestration_shows_on_replay(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("reserve")
        yield ctx.call_activity("refund")

    orchestration = Orchestration(registry, REF)
    with pytest.raises(NonDeterminismError) as caught:
        orchestration.replay(two_steps().events)
    assert caught.value.step == 2


def test_matching_history_replays_cleanly(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        r = yield ctx.call_activity("reserve")
        c = yield ctx.call_activity("charge")
        return [r, c]

    h = two_steps().episode(1).completed(2, "c").finished(["r", "c"])
    result = execute(registry, REF, h.events, [])
    assert result.status == OrchestrationStatus.COMPLETED
    assert result.output == ["r", "c"]


# -- is_patched ----------------------------------------------------------------------


@pytest.fixture
def patched_order(registry):
    @registry.orchestrator(name="order")
    def order(ctx, _):
        r = yield ctx.call_activity("reserve")
        receipt = None
        if ctx.is_patched("send-receipt"):
            receipt = yield ctx.call_activity("send_receipt")
        c = yield ctx.call_activity("charge")
        return [r, receipt, c]

    @registry.activity(name="reserve")
    def reserve(ctx, _):
        return "r"

    @registry.activity(name="send_receipt")
    def send_receipt(ctx, _):
        return "mailed"

    @registry.activity(name="charge")
    def charge(ctx, _):
        return "c"


def test_is_patched_is_true_on_new_instances_and_records_a_marker(patched_order, runner):
    iid = runner.start("order")
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.output == ["r", "mailed", "c"]
    markers = [e for e in status.history if isinstance(e, ev.MarkerRecorded)]
    assert markers == [ev.MarkerRecorded(2, "send-receipt")]
    # ... and replaying that history takes the new path again.
    replayed = execute(runner.registry, InstanceRef(iid), status.history, [])
    assert replayed.output == ["r", "mailed", "c"]


def test_is_patched_is_false_when_replaying_history_from_before_the_change(registry, patched_order):
    # Recorded by the old code: reserve, then charge, no marker.
    old = two_steps()
    result = execute(registry, REF, old.events, [ev.ActivityCompleted(2, "c")], now=T0)
    assert result.status == OrchestrationStatus.COMPLETED
    assert result.output == ["r", None, "c"]


def test_is_patched_is_true_when_an_old_instance_reaches_it_live(registry, patched_order):
    # Recorded by the old code up to the first step only.
    history = History().episode().started("order").scheduled(1, "reserve").events
    result = execute(registry, REF, history, [ev.ActivityCompleted(1, "r")], now=T0)
    assert kinds(result.new_history)[-2:] == ["MarkerRecorded", "ActivityScheduled"]
    assert result.new_history[-1].name == "send_receipt"


def test_is_patched_in_the_finishing_episode_replays_the_same_way(registry, runner):
    @registry.orchestrator(name="pricing")
    def pricing(ctx, _):
        yield ctx.call_activity("echo", 1)
        if ctx.is_patched("new-rounding"):
            return "new"
        return "old"

    iid = runner.start("pricing")
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.output == "new"
    assert kinds(status.history)[-2:] == ["MarkerRecorded", "ExecutionCompleted"]
    assert_history_shape(status.history)
    replayed = Orchestration(registry, InstanceRef(iid))
    replayed.replay(status.history)
    assert replayed.output == "new"


def test_no_marker_is_recorded_after_a_termination(registry, patched_order):
    history = History().episode().started("order").scheduled(1, "reserve").events
    result = execute(
        registry,
        REF,
        history,
        [ev.ActivityCompleted(1, "r"), ev.ExecutionTerminated("stop")],
        now=T0,
    )
    assert kinds(result.new_history) == [
        "OrchestratorStarted",
        "ActivityCompleted",
        "ExecutionTerminated",
    ]
    assert_history_shape(history + list(result.new_history))


def test_every_episode_replays_with_patches(registry, patched_order, runner):
    iid = runner.start("order")
    runner.run_until_idle()
    history = runner.status(iid).history
    for cut in range(1, len(split_episodes(history)) + 1):
        prefix = [e for ep in split_episodes(history)[:cut] for e in ep]
        Orchestration(registry, InstanceRef(iid)).replay(prefix)  # no error at any cut
