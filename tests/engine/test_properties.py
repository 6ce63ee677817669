"""Property: replaying any prefix of a recorded history, then applying the rest episode
by episode on the kept-alive Orchestration, decides exactly what the original run did.

Workflows are generated as plans (random sequences of activity calls, fan-outs, bounded
fan-outs, timers, external events with and without timeouts, retries, races, children,
custom status, ids and patches) interpreted by one orchestrator; activities succeed or
fail deterministically from their input.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.engine import (
    ActivityFailed,
    EventTimeout,
    FanOutFailed,
    InstanceRef,
    Orchestration,
    Registry,
    RetryPolicy,
    SubOrchestrationFailed,
    execute,
)
from workflows.engine.testing import WorkflowTestRunner

from .builders import (
    T0,
    assert_history_shape,
    episodes_of,
    recording_episodes,
    replay_then_apply,
    run_fresh,
)

EVENT_NAMES = ["a", "b"]


def build_registry() -> Registry:
    registry = Registry()

    @registry.activity(name="work")
    def work(ctx, n):
        if n % 4 == 0:
            raise ValueError(f"work {n} failed")
        return (n, n * 10)  # a tuple: the orchestrator must see a list, live and on replay

    @registry.activity(name="sometimes")
    def sometimes(ctx, n):
        if ctx.attempt <= n % 3:
            raise ConnectionError(f"attempt {ctx.attempt} of {n}")
        return ctx.attempt

    @registry.orchestrator(name="sub")
    def sub(ctx, n):
        return (yield ctx.call_activity("work", n))

    @registry.orchestrator(name="plan")
    def plan(ctx, job):
        results: list[Any] = []
        for step in job["plan"]:
            results.append((yield from run_step(ctx, step, results)))
        if job["round"] < job["rounds"]:
            ctx.continue_as_new({**job, "round": job["round"] + 1})
            return None
        return results

    return registry


def run_step(ctx, step: list[Any], results: list[Any]):
    kind = step[0]
    try:
        if kind == "call":
            return (yield ctx.call_activity("work", step[1]))
        if kind == "fan":
            return (yield ctx.task_all([ctx.call_activity("work", n) for n in step[1]]))
        if kind == "bounded":
            return (yield from ctx.bounded_fan_out("work", step[1], step[2]))
        if kind == "timer":
            fired = yield ctx.create_timer(timedelta(seconds=step[1]))
            return fired.isoformat()
        if kind == "event":
            return (yield ctx.wait_for_external_event(step[1]))
        if kind == "event_timeout":
            timeout = timedelta(seconds=step[2])
            return (yield ctx.wait_for_external_event(step[1], timeout=timeout))
        if kind == "retry":
            policy = RetryPolicy(max_attempts=3, first_retry=timedelta(seconds=1))
            return (yield ctx.call_activity("sometimes", step[1], retry=policy))
        if kind == "any":
            work = ctx.call_activity("work", step[1])
            timer = ctx.create_timer(timedelta(seconds=step[2]))
            winner = yield ctx.task_any([work, timer])
            return "timer" if winner is timer else winner.result
        if kind == "sub":
            return (yield ctx.call_sub_orchestrator("sub", step[1]))
        if kind == "status":
            ctx.set_custom_status({"steps": len(results), "at": str(ctx.current_utc_datetime)})
            return "status"
        if kind == "uuid":
            return ctx.new_uuid()
        if kind == "patch":
            return ctx.is_patched(step[1])
        raise AssertionError(f"unknown step {step!r}")
    except FanOutFailed as exc:
        return [[o.ok, o.result if o.ok else o.failure.message] for o in exc.outcomes]
    except (ActivityFailed, SubOrchestrationFailed, EventTimeout) as exc:
        return f"failed: {exc}"


numbers = st.integers(min_value=0, max_value=20)
event_names = st.sampled_from(EVENT_NAMES)
steps = st.one_of(
    st.tuples(st.just("call"), numbers),
    st.tuples(st.just("fan"), st.lists(numbers, max_size=4)),
    st.tuples(st.just("bounded"), st.lists(numbers, min_size=1, max_size=5), st.integers(1, 3)),
    st.tuples(st.just("timer"), st.integers(1, 120)),
    st.tuples(st.just("event"), event_names),
    st.tuples(st.just("event_timeout"), event_names, st.integers(1, 60)),
    st.tuples(st.just("retry"), st.integers(0, 8)),
    st.tuples(st.just("any"), numbers, st.integers(1, 60)),
    st.tuples(st.just("sub"), numbers),
    st.tuples(st.just("status")),
    st.tuples(st.just("uuid")),
    st.tuples(st.just("patch"), st.sampled_from(["p1", "p2"])),
)
plans = st.lists(steps.map(list), min_size=1, max_size=10)


def run_plan(registry: Registry, plan: list[Any], rounds: int, early, later):
    """Run a plan in the in-memory runner, raising events before and while it runs."""
    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    with recording_episodes() as recorded:
        iid = runner.start("plan", {"plan": plan, "round": 0, "rounds": rounds})
        for name in early:
            runner.raise_event(iid, name, f"early {name}")
        runner.run_until_idle(auto_advance=True)
        for i, name in enumerate(later):
            if runner.status(iid).status != "running":
                break
            runner.raise_event(iid, name, [name, i])
            runner.run_until_idle(auto_advance=True)
    return runner, iid, recorded


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    plan=plans,
    rounds=st.integers(0, 1),
    early=st.lists(event_names, max_size=2),
    later=st.lists(event_names, max_size=5),
)
def test_replay_of_any_prefix_then_apply_matches_the_original_run(plan, rounds, early, later):
    registry = build_registry()
    runner, iid, recorded = run_plan(registry, plan, rounds, early, later)

    executions = sorted({(e.instance.instance_id, e.instance.execution_id) for e in recorded})
    assert (iid, "1") in executions
    for instance_id, execution_id in executions:
        episodes = episodes_of(recorded, instance_id, execution_id)
        expected = [e.result for e in episodes]
        # The recorded run is what a fresh replay decides at every episode...
        assert run_fresh(registry, episodes) == expected
        # ... and so is a replay of any prefix followed by the rest, applied live.
        for split in range(len(episodes) + 1):
            _orchestration, results = replay_then_apply(registry, episodes, split)
            assert results == expected[split:], f"{instance_id}/{execution_id} split {split}"

        # Replaying the whole history reproduces the final state, and decides nothing.
        history = [event for e in episodes for event in e.result.new_history]
        assert_history_shape(history)
        ref = InstanceRef(instance_id, execution_id)
        full = Orchestration(registry, ref)
        full.replay(history)
        assert (full.status, full.output, full.failure) == (
            expected[-1].status,
            expected[-1].output,
            expected[-1].failure,
        )
        again = execute(registry, ref, history, [])
        assert again.actions == ()

    final = runner.status(iid)
    if final.status == "completed":
        assert len(final.output) == len(plan)
    else:
        assert final.status == "running"  # only ever waiting for an event
