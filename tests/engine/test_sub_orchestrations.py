"""Sub-orchestrations in the executor: results, failures, nesting, child ids."""

from __future__ import annotations

import pytest

from workflows.engine import (
    InstanceRef,
    SubOrchestrationFailed,
    execute,
)
from workflows.engine import actions as act
from workflows.engine import events as ev

from .builders import (
    T0,
)

REF = InstanceRef("inst-1")
LINES = [
    {"sku": "a", "qty": 2, "price": 5},
    {"sku": "b", "qty": 1, "price": 7},
    {"sku": "c", "qty": 3, "price": 11},
]


# -- sub-orchestrations ----------------------------------------------------------------


@pytest.fixture
def family(registry):
    @registry.orchestrator(name="child")
    def child(ctx, n):
        if n < 0:
            raise ValueError(f"negative {n}")
        return (yield ctx.call_activity("double", n))

    @registry.orchestrator(name="parent")
    def parent(ctx, n):
        try:
            return (yield ctx.call_sub_orchestrator("child", n))
        except SubOrchestrationFailed as exc:
            return {"caught": exc.name, "child": exc.instance_id, "type": exc.failure.type}

    @registry.orchestrator(name="grandparent")
    def grandparent(ctx, n):
        try:
            return (yield ctx.call_sub_orchestrator("middle", n, instance_id=f"mid-{n}"))
        except SubOrchestrationFailed as exc:
            return {"caught": exc.name, "message": exc.failure.message}

    @registry.orchestrator(name="middle")
    def middle(ctx, n):
        value = yield ctx.call_sub_orchestrator(child, n)
        return value + 1


def test_sub_orchestration_result_is_returned(family, runner):
    iid = runner.start("parent", 4)
    runner.run_until_idle()
    assert runner.status(iid).output == 8
    assert runner.status(f"{iid}:1:1").status == "completed"
    created = [e for e in runner.status(iid).history if isinstance(e, ev.SubOrchestrationCreated)]
    assert created == [ev.SubOrchestrationCreated(1, "child", f"{iid}:1:1", None, 4)]


def test_sub_orchestration_failure_is_catchable_in_the_parent(family, runner):
    iid = runner.start("parent", -1)
    runner.run_until_idle()
    assert runner.status(iid).output == {
        "caught": "child",
        "child": f"{iid}:1:1",
        "type": "ValueError",
    }
    assert runner.status(f"{iid}:1:1").status == "failed"


def test_sub_orchestrations_nested_two_levels(family, runner):
    ok = runner.start("grandparent", 3)
    bad = runner.start("grandparent", -3)
    runner.run_until_idle()
    assert runner.status(ok).output == 7
    assert runner.status("mid-3").output == 7
    assert runner.status("mid-3:1:1").output == 6
    output = runner.status(bad).output
    assert output["caught"] == "middle"
    # The middle's failure is the child's failure, re-raised: its summary names both.
    assert (
        "Sub-orchestration 'child' (mid--3:1:1) failed: ValueError: negative -3"
        in (output["message"])
    )


def test_children_of_successive_executions_get_distinct_ids(family, registry, runner):
    @registry.orchestrator(name="monitor")
    def monitor(ctx, rounds):
        value = yield ctx.call_sub_orchestrator("child", rounds)
        if rounds > 1:
            ctx.continue_as_new(rounds - 1)
            return None
        return value

    iid = runner.start("monitor", 3)
    runner.run_until_idle()
    assert runner.status(iid).output == 2
    children = sorted(i for i in runner.instance_ids() if i != iid)
    assert children == [f"{iid}:1:1", f"{iid}:2:1", f"{iid}:3:1"]
    assert [runner.status(c).output for c in children] == [6, 4, 2]


def test_a_taken_child_instance_id_fails_the_call(family, registry, runner):
    @registry.orchestrator(name="twins")
    def twins(ctx, _):
        first = yield ctx.call_sub_orchestrator("child", 1, instance_id="twin")
        try:
            yield ctx.call_sub_orchestrator("child", 2, instance_id="twin")
        except SubOrchestrationFailed as exc:
            return [first, exc.failure.message]

    iid = runner.start("twins")
    runner.run_until_idle()
    first, message = runner.status(iid).output
    assert first == 2
    assert "instance id 'twin' is already taken" in message
    assert runner.status("twin").output == 2  # the first child is left alone


def test_sub_orchestration_action_at_execute_level(registry, family):
    result = execute(registry, REF, [], [ev.ExecutionStarted("parent", 1, 2)], now=T0)
    assert result.actions == (act.StartSubOrchestration(1, "child", "inst-1:1:1", None, 2),)
    done = execute(
        registry, REF, result.new_history, [ev.SubOrchestrationCompleted(1, [4])], now=T0
    )
    assert done.output == [4]
