"""The executor: episodes, replay, payload rules, failures, termination,
and the sticky-state equivalence (kept-alive Orchestration == fresh replay)."""

from __future__ import annotations

import gc
import json
import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from workflows.engine import (
    FailureDetails,
    InstanceRef,
    NonRetryableError,
    Orchestration,
    OrchestrationStatus,
    RetryPolicy,
    execute,
)
from workflows.engine import actions as act
from workflows.engine import events as ev

from .builders import (
    T0,
    History,
    assert_history_shape,
    episodes_of,
    inputs_of,
    kinds,
    recording_episodes,
    replay_then_apply,
    run_fresh,
    split_episodes,
)

REF = InstanceRef("inst-1")
LINES = [
    {"sku": "a", "qty": 2, "price": 5},
    {"sku": "b", "qty": 1, "price": 7},
    {"sku": "c", "qty": 3, "price": 11},
]


@pytest.fixture
def chain(registry):
    @registry.orchestrator(name="chain")
    def chain(ctx, x):
        a = yield ctx.call_activity("double", x)
        b = yield ctx.call_activity("double", a)
        return b

    return chain


@pytest.fixture
def invoice(registry):
    @registry.orchestrator(name="invoice")
    def invoice(ctx, lines):
        total = 0
        for line in lines:
            total += yield ctx.call_activity("price_line", line)
            ctx.set_custom_status({"total": total})
        return total

    return invoice


# -- episodes -----------------------------------------------------------------------


def test_chaining_episode_by_episode(registry, chain):
    first = execute(registry, REF, [], [ev.ExecutionStarted("chain", 1, 3)], now=T0)
    assert first.actions == (act.ScheduleActivity(1, "double", 3, 1, 1),)
    assert kinds(first.new_history) == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "ActivityScheduled",
    ]
    assert first.status == OrchestrationStatus.RUNNING
    assert not first.is_finished
    history = list(first.new_history)

    second = execute(registry, REF, history, [ev.ActivityCompleted(1, 6)], now=T0)
    assert second.actions == (act.ScheduleActivity(2, "double", 6, 1, 2),)
    history += second.new_history

    third = execute(registry, REF, history, [ev.ActivityCompleted(2, 12)], now=T0)
    assert third.actions == (act.CompleteOrchestration(12),)
    assert third.new_history[-1] == ev.ExecutionCompleted(12)
    assert third.status == OrchestrationStatus.COMPLETED
    assert third.output == 12
    assert third.is_finished
    assert third.history_length == len(history) + len(third.new_history)


def test_chaining_in_the_runner(chain, runner):
    iid = runner.start(chain, 5)
    runner.run_until_idle()
    status = runner.status(iid)
    assert (status.status, status.output) == ("completed", 20)
    assert runner.activity_calls("double") == [5, 10]


def test_seed_loop_replay_reproduces_the_local_variable(registry, invoice, runner):
    iid = runner.start("invoice", LINES)
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.output == 10 + 7 + 33
    assert status.custom_status == {"total": 50}

    # From scratch: full history, empty new batch.
    replayed = execute(registry, InstanceRef(iid), status.history, [])
    assert replayed.output == 50
    assert replayed.custom_status == {"total": 50}
    assert replayed.status == OrchestrationStatus.COMPLETED

    # Same through Orchestration().replay(), and for a prefix the loop is mid-way.
    orchestration = Orchestration(registry, InstanceRef(iid))
    orchestration.replay(status.history)
    assert (orchestration.status, orchestration.output) == ("completed", 50)
    cut = [i for i, e in enumerate(status.history) if isinstance(e, ev.OrchestratorStarted)][3]
    partial = Orchestration(registry, InstanceRef(iid))
    partial.replay(status.history[:cut])
    assert partial.status == OrchestrationStatus.RUNNING
    assert partial.ctx.custom_status == {"total": 10 + 7}


def test_replaying_a_finished_history_adds_nothing(registry, invoice, runner):
    iid = runner.start("invoice", LINES)
    runner.run_until_idle()
    history = runner.status(iid).history
    late = execute(registry, InstanceRef(iid), history, [ev.ActivityCompleted(1, 999)], now=T0)
    assert late.new_history == ()
    assert late.actions == ()
    assert (late.status, late.output) == (OrchestrationStatus.COMPLETED, 50)
    assert late.history_length == len(history)

    # The same for a kept-alive Orchestration that finished in its last episode.
    episodes = split_episodes(history)
    orchestration = Orchestration(registry, InstanceRef(iid))
    orchestration.replay([e for ep in episodes[:-1] for e in ep])
    last = orchestration.apply(inputs_of(episodes[-1]))
    assert last.actions[-1] == act.CompleteOrchestration(50)
    again = orchestration.apply([ev.ActivityCompleted(3, 999)], now=T0)
    assert (again.new_history, again.actions, again.output) == ((), (), 50)


def test_episode_time_comes_from_now_or_orchestrator_started(registry):
    seen = []

    @registry.orchestrator(name="clock")
    def clock(ctx, _):
        seen.append(ctx.current_utc_datetime)
        yield ctx.create_timer(timedelta(minutes=5))
        seen.append(ctx.current_utc_datetime)

    later = T0 + timedelta(hours=1)
    h = History().episode().started("clock").timer(1, 300)
    h.episode(3600).fired(1).finished()
    execute(registry, REF, h.events, [])
    assert seen == [T0, later]


# -- payloads: what the orchestrator sees, and what may enter history ----------------


def test_values_are_json_decoded_live_and_on_replay(registry, runner):
    @registry.orchestrator(name="types")
    def types(ctx, given):
        pair = yield ctx.call_activity("pair", 1)
        ctx.set_custom_status([type(given).__name__, type(pair).__name__])
        return {"given": given, "pair": pair, "type": type(pair).__name__}

    iid = runner.start("types", ("a", "b"))
    runner.run_until_idle()
    status = runner.status(iid)
    # Un-annotated: JSON (the tuple became a list); "pair" returns tuple[Any, Any]: a tuple.
    assert status.output == {"given": ["a", "b"], "pair": [1, 1], "type": "tuple"}
    assert status.custom_status == ["list", "tuple"]
    replayed = execute(registry, InstanceRef(iid), status.history, [])
    assert replayed.output == status.output
    assert replayed.custom_status == ["list", "tuple"]


def test_execute_level_values_are_json_decoded_on_first_run(registry):
    @registry.orchestrator(name="types")
    def types(ctx, given):
        result = yield ctx.call_activity("echo")
        return [type(given).__name__, type(result).__name__]

    # Values handed straight to the executor (not via storage) are still decoded.
    first = execute(registry, REF, [], [ev.ExecutionStarted("types", 1, (1, 2))], now=T0)
    done = execute(registry, REF, first.new_history, [ev.ActivityCompleted(1, (3, 4))], now=T0)
    assert done.output == ["list", "list"]


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("activity_input", "input of activity 'echo'"),
        ("output", "orchestrator output"),
        ("custom_status", "custom status"),
        ("child_input", "input of sub-orchestration 'child'"),
        ("continue_input", "continue-as-new input"),
    ],
)
def test_non_json_payloads_fail_the_orchestration_saying_so(registry, runner, body, what):
    class Money:
        pass

    @registry.orchestrator(name="child")
    def child(ctx, _):
        yield ctx.call_activity("echo")

    @registry.orchestrator(name="bad")
    def bad(ctx, _):
        yield ctx.call_activity("echo", "warm-up")
        if body == "activity_input":
            yield ctx.call_activity("echo", {1, 2})
        elif body == "custom_status":
            ctx.set_custom_status({Decimal("1.5")})  # a set: no JSON form
        elif body == "child_input":
            yield ctx.call_sub_orchestrator("child", Money())
        elif body == "continue_input":
            ctx.continue_as_new({1, 2})
        return Money()

    iid = runner.start("bad")
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.status == "failed"
    assert status.failure.type == "workflows.engine.errors.PayloadError"
    assert f"The {what} is not JSON-serializable" in status.failure.message
    assert "Pass plain JSON data" in status.failure.message


def test_non_json_activity_result_fails_the_activity(registry, runner):
    @registry.activity(name="leaky")
    def leaky(ctx, _):
        return object()

    @registry.orchestrator(name="flow")
    def flow(ctx, _):
        try:
            yield ctx.call_activity("leaky")
        except Exception as exc:  # noqa: BLE001
            return [type(exc).__name__, exc.failure.type, exc.failure.message]

    iid = runner.start("flow")
    runner.run_until_idle()
    name, failure_type, message = runner.status(iid).output
    assert name == "ActivityFailed"
    assert failure_type == "workflows.engine.errors.PayloadError"
    assert "result of activity 'leaky' is not JSON-serializable" in message


def test_enum_values_reach_the_orchestrator_as_plain_json(registry, runner):
    from enum import IntEnum, StrEnum

    class Color(StrEnum):
        RED = "red"

    class Level(IntEnum):
        HIGH = 3

    @registry.activity(name="enums")
    def enums(ctx, _):
        return Color.RED

    @registry.activity(name="level")
    def level(ctx, _):
        return Level.HIGH

    @registry.orchestrator(name="flow")
    def flow(ctx, _):
        color = yield ctx.call_activity("enums")
        lvl = yield ctx.call_activity("level")
        return [type(color).__name__, type(lvl).__name__]

    iid = runner.start("flow")
    runner.run_until_idle()
    assert runner.status(iid).output == ["str", "int"]


# -- programming-model errors and user exceptions --------------------------------------


def test_yielding_a_non_task_is_a_workflow_code_error(registry, runner):
    @registry.orchestrator(name="oops")
    def oops(ctx, _):
        yield 42

    iid = runner.start("oops")
    runner.run_until_idle()
    failure = runner.status(iid).failure
    assert failure.type == "workflows.engine.errors.WorkflowCodeError"
    assert "'oops' yielded 42" in failure.message
    assert "yield only durable tasks" in failure.message


def test_yielding_a_helper_generator_suggests_yield_from(registry, runner):
    @registry.orchestrator(name="oops")
    def oops(ctx, items):
        yield ctx.bounded_fan_out("echo", items, max_parallel=2)  # forgot `from`

    iid = runner.start("oops", [1, 2])
    runner.run_until_idle()
    failure = runner.status(iid).failure
    assert failure.type == "workflows.engine.errors.WorkflowCodeError"
    assert "Use `yield from`" in failure.message


def test_user_exception_fails_with_failure_details(registry, runner):
    @registry.orchestrator(name="broken")
    def broken_orchestrator(ctx, _):
        yield ctx.call_activity("echo", 1)
        raise KeyError("missing customer")

    iid = runner.start("broken")
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.status == "failed"
    failure = status.failure
    assert failure.type == "KeyError"
    assert failure.message == "'missing customer'"
    assert failure.non_retryable is False
    assert "Traceback" in failure.traceback
    assert "broken_orchestrator" in failure.traceback
    assert "KeyError" in failure.type_names and "LookupError" in failure.type_names
    assert failure.summary() == "KeyError: 'missing customer'"
    # ExecutionFailed is the last event and carries the same details.
    assert status.history[-1] == ev.ExecutionFailed(failure)
    # Round trip through JSON, as storage does.
    again = FailureDetails.from_dict(json.loads(json.dumps(failure.to_dict())))
    assert again == failure


def test_non_retryable_orchestrator_failure_is_flagged(registry, runner):
    class Rejected(NonRetryableError):
        pass

    @registry.orchestrator(name="strict")
    def strict(ctx, _):
        yield ctx.call_activity("echo")
        raise Rejected("order rejected")

    iid = runner.start("strict")
    runner.run_until_idle()
    failure = runner.status(iid).failure
    assert failure.non_retryable is True
    assert failure.message == "order rejected"
    assert FailureDetails.from_dict(failure.to_dict()).non_retryable is True


def test_exception_before_the_first_yield_fails_the_first_episode(registry):
    @registry.orchestrator(name="early")
    def early(ctx, order):
        if not order:
            raise ValueError("order is empty")
        yield ctx.call_activity("echo", order)

    result = execute(registry, REF, [], [ev.ExecutionStarted("early", 1, None)], now=T0)
    assert result.status == OrchestrationStatus.FAILED
    assert result.actions == (act.FailOrchestration(result.failure),)
    assert result.failure.summary() == "ValueError: order is empty"


def test_finished_orchestration_drops_its_unawaited_work(registry):
    @registry.orchestrator(name="fire_and_forget")
    def fire_and_forget(ctx, _):
        ctx.call_activity("echo", "never awaited")
        return "done"
        yield  # pragma: no cover - makes this a generator

    result = execute(registry, REF, [], [ev.ExecutionStarted("fire_and_forget", 1)], now=T0)
    assert result.actions == (act.CompleteOrchestration("done"),)
    assert kinds(result.new_history) == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "ExecutionCompleted",
    ]


# -- termination ------------------------------------------------------------------------


def test_terminate_ends_the_orchestration_with_no_new_actions(registry, chain):
    started = execute(registry, REF, [], [ev.ExecutionStarted("chain", 1, 1)], now=T0)
    result = execute(
        registry,
        REF,
        started.new_history,
        [ev.ActivityCompleted(1, 2), ev.ExecutionTerminated("operator said stop")],
        now=T0,
    )
    assert result.status == OrchestrationStatus.TERMINATED
    # Activity 2 was decided before the terminate in the same batch: it is dropped.
    assert result.actions == (act.TerminateOrchestration("operator said stop"),)
    assert kinds(result.new_history) == [
        "OrchestratorStarted",
        "ActivityCompleted",
        "ExecutionTerminated",
    ]
    # Replaying the terminated history agrees and decides nothing more.
    again = execute(registry, REF, list(started.new_history) + list(result.new_history), [])
    assert again.status == OrchestrationStatus.TERMINATED
    assert again.actions == ()


def test_terminate_ignores_events_after_it(registry, chain):
    started = execute(registry, REF, [], [ev.ExecutionStarted("chain", 1, 1)], now=T0)
    result = execute(
        registry,
        REF,
        started.new_history,
        [ev.ExecutionTerminated("stop"), ev.ActivityCompleted(1, 2)],
        now=T0,
    )
    assert result.status == OrchestrationStatus.TERMINATED
    assert kinds(result.new_history) == ["OrchestratorStarted", "ExecutionTerminated"]


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_terminate_runs_finally_blocks_even_if_they_yield(registry, runner):
    cleaned = []

    @registry.orchestrator(name="stubborn")
    def stubborn(ctx, _):
        try:
            yield ctx.call_activity("echo", 1)
        finally:
            cleaned.append(ctx.is_replaying)
            yield ctx.call_activity("echo", "cleanup")  # cannot run once terminated

    iid = runner.start("stubborn")
    runner._step()  # first episode only: activity 1 scheduled
    runner.terminate(iid, "stop")
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.status == "terminated"
    assert cleaned  # the finally block ran
    assert runner.activity_calls("echo") == []  # nothing ran after termination
    gc.collect()  # abandoned episodes close their generators quietly


def test_a_dropped_orchestration_closes_its_generator_at_once(registry):
    # Without the cyclic collector: an Orchestration must not be part of a reference
    # cycle, or its generator could be finalized before it (order of a cycle's
    # finalizers is arbitrary) and a yield in a finally block would surface.
    closed = []

    @registry.orchestrator(name="held")
    def held(ctx, _):
        try:
            yield ctx.call_activity("echo", 1)
        finally:
            closed.append(ctx.is_replaying)

    gc.disable()
    try:
        orchestration = Orchestration(registry, REF)
        orchestration.apply([ev.ExecutionStarted("held", 1, None)], T0)
        del orchestration
        assert closed == [True]
    finally:
        gc.enable()


def test_finally_blocks_of_abandoned_episodes_stay_silent(registry, runner, caplog):
    @registry.orchestrator(name="tidy")
    def tidy(ctx, _):
        try:
            for n in range(3):
                yield ctx.call_activity("echo", n)
        finally:
            ctx.logger.info("cleanup")

    iid = runner.start("tidy")
    with caplog.at_level(logging.INFO, logger="workflows.orchestrator"):
        runner.run_until_idle()
        gc.collect()  # every episode's Orchestration was dropped: collect them now
    assert runner.status(iid).status == "completed"
    # Only the real exit of the try block logs; dropped episodes do not.
    assert [r.getMessage() for r in caplog.records] == [f"[{iid}] cleanup"]


# -- sticky-state equivalence -----------------------------------------------------------


@pytest.fixture
def busy(registry):
    """A workflow touching most primitives, to drive both ways."""

    @registry.orchestrator(name="helper")
    def helper(ctx, n):
        return (yield ctx.call_activity("double", n))

    @registry.orchestrator(name="busy")
    def busy(ctx, order):
        ctx.set_custom_status("starting")
        ids = [ctx.new_uuid(), ctx.new_uuid()]
        first = yield ctx.call_activity("echo", order)
        both = yield ctx.task_all([ctx.call_activity("double", n) for n in (1, 2, 3)])
        try:
            yield ctx.task_all([ctx.call_activity("boom", "x"), ctx.call_activity("echo", 9)])
        except Exception as exc:  # noqa: BLE001
            failed = len(exc.failed)
        retried = yield ctx.call_activity("flaky", 2, retry=RetryPolicy(3))
        yield ctx.create_timer(timedelta(minutes=1))
        approval = yield ctx.wait_for_external_event("approve")
        child = yield ctx.call_sub_orchestrator("helper", 21)
        if ctx.is_patched("bonus"):
            bounded = yield from ctx.bounded_fan_out("double", [5, 6, 7], max_parallel=2)
        ctx.set_custom_status({"phase": "done"})
        return [
            first,
            both,
            failed,
            retried,
            approval,
            child,
            bounded,
            ids,
            str(ctx.current_utc_datetime),
        ]


def test_kept_alive_orchestration_equals_fresh_replay_every_episode(registry, busy, runner):
    with recording_episodes() as recorded:
        iid = runner.start("busy", {"id": 7})
        runner.run_until_idle(auto_advance=True)
        runner.raise_event(iid, "approve", {"by": "ann"})
        runner.run_until_idle(auto_advance=True)
    assert runner.status(iid).status == "completed"
    episodes = episodes_of(recorded, iid)
    assert len(episodes) > 8
    expected = [e.result for e in episodes]

    assert_history_shape(runner.status(iid).history)
    assert run_fresh(registry, episodes) == expected
    for split in range(len(episodes) + 1):
        orchestration, results = replay_then_apply(registry, episodes, split)
        assert results == expected[split:], f"split at episode {split}"
        assert orchestration.output == runner.status(iid).output
