"""task_all, task_any and bounded_fan_out (context.py + tasks.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import (
    ActivityFailed,
    FanOutFailed,
    InstanceRef,
    Outcome,
    WorkflowCodeError,
    execute,
)
from workflows.engine import events as ev

from .builders import T0, failure_of

REF = InstanceRef("fan-1")


def test_task_all_results_in_input_order_whatever_the_completion_order(registry):
    @registry.orchestrator(name="fan")
    def fan(ctx, items):
        return (yield ctx.task_all([ctx.call_activity("double", n) for n in items]))

    first = execute(registry, REF, [], [ev.ExecutionStarted("fan", 1, [1, 2, 3])], now=T0)
    assert [a.task_id for a in first.actions] == [1, 2, 3]
    history = list(first.new_history)
    second = execute(registry, REF, history, [ev.ActivityCompleted(3, 6)], now=T0)
    assert second.actions == ()  # still waiting for 1 and 2
    history += second.new_history
    third = execute(
        registry, REF, history, [ev.ActivityCompleted(2, 4), ev.ActivityCompleted(1, 2)], now=T0
    )
    assert third.output == [2, 4, 6]


def test_task_all_of_nothing_completes_at_once(registry, runner):
    @registry.orchestrator(name="empty")
    def empty(ctx, _):
        return (yield ctx.task_all([]))

    iid = runner.start("empty")
    runner.run_until_idle()
    assert runner.status(iid).output == []


def test_task_all_with_failures_keeps_every_outcome(registry, runner):
    @registry.orchestrator(name="fan")
    def fan(ctx, items):
        tasks = [
            ctx.call_activity("boom", f"bad {n}") if n % 2 else ctx.call_activity("double", n)
            for n in items
        ]
        try:
            yield ctx.task_all(tasks)
        except FanOutFailed as exc:
            return {
                "completed": [(o.index, o.result) for o in exc.completed],
                "failed": [(o.index, o.failure.message) for o in exc.failed],
                "all_ok": [o.ok for o in exc.outcomes],
                "message": str(exc),
                "first_failure": exc.failure.message,
            }

    iid = runner.start("fan", [0, 1, 2, 3, 4])
    runner.run_until_idle()
    output = runner.status(iid).output
    assert output["completed"] == [[0, 0], [2, 4], [4, 8]]
    assert output["failed"] == [[1, "bad 1"], [3, "bad 3"]]
    assert output["all_ok"] == [True, False, True, False, True]
    assert output["message"].startswith("2 of 5 tasks failed; first: Activity 'boom' failed")
    assert output["first_failure"] == "bad 1"
    # Every child ran: a failure does not cancel its siblings.
    assert runner.activity_calls("double") == [0, 2, 4]


def test_task_all_waits_for_every_child_before_failing(registry):
    @registry.orchestrator(name="fan")
    def fan(ctx, _):
        try:
            yield ctx.task_all([ctx.call_activity("a"), ctx.call_activity("b")])
        except FanOutFailed as exc:
            return [o.ok for o in exc.outcomes]

    first = execute(registry, REF, [], [ev.ExecutionStarted("fan", 1)], now=T0)
    failure = ev.ActivityFailedEvent(1, failure_of(RuntimeError("nope")))
    second = execute(registry, REF, first.new_history, [failure], now=T0)
    assert not second.is_finished  # b is still running
    history = list(first.new_history) + list(second.new_history)
    third = execute(registry, REF, history, [ev.ActivityCompleted(2, "b")], now=T0)
    assert third.output == [False, True]


def test_task_any_returns_the_winning_task(registry):
    @registry.orchestrator(name="race")
    def race(ctx, _):
        slow = ctx.call_activity("echo", "slow")
        fast = ctx.call_activity("echo", "fast")
        timeout = ctx.create_timer(timedelta(hours=1))
        winner = yield ctx.task_any([slow, fast, timeout])
        return {"winner_is_fast": winner is fast, "result": winner.result}

    first = execute(registry, REF, [], [ev.ExecutionStarted("race", 1)], now=T0)
    assert [type(a).__name__ for a in first.actions] == [
        "ScheduleActivity",
        "ScheduleActivity",
        "CreateTimer",
    ]
    done = execute(registry, REF, first.new_history, [ev.ActivityCompleted(2, "fast")], now=T0)
    assert done.output == {"winner_is_fast": True, "result": "fast"}


def test_task_any_timer_wins(registry, runner):
    @registry.orchestrator(name="race")
    def race(ctx, _):
        approval = ctx.wait_for_external_event("approved")
        timeout = ctx.create_timer(timedelta(minutes=30))
        winner = yield ctx.task_any([approval, timeout])
        return "escalated" if winner is timeout else winner.result

    iid = runner.start("race")
    runner.run_until_idle()
    runner.advance(timedelta(minutes=29))
    assert runner.status(iid).status == "running"
    runner.advance(timedelta(minutes=1))
    assert runner.status(iid).output == "escalated"


def test_task_any_with_a_failed_winner_raises_on_result(registry, runner):
    @registry.orchestrator(name="race")
    def race(ctx, _):
        winner = yield ctx.task_any([ctx.call_activity("boom", "first")])
        assert winner.is_failed
        try:
            winner.result  # noqa: B018 - the property raises
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__

    iid = runner.start("race")
    runner.run_until_idle()
    assert runner.status(iid).output == "ActivityFailed"


def test_task_any_of_nothing_is_an_error(registry):
    @registry.orchestrator(name="race")
    def race(ctx, _):
        yield ctx.task_any([])

    result = execute(registry, REF, [], [ev.ExecutionStarted("race", 1)], now=T0)
    assert result.failure.summary() == "ValueError: task_any needs at least one task."


@pytest.mark.parametrize("combinator", ["task_all", "task_any"])
def test_combinators_reject_non_tasks(registry, combinator):
    @registry.orchestrator(name="bad")
    def bad(ctx, _):
        yield getattr(ctx, combinator)([ctx.call_activity("echo"), "not a task"])

    result = execute(registry, REF, [], [ev.ExecutionStarted("bad", 1)], now=T0)
    assert result.failure.type == "workflows.engine.errors.WorkflowCodeError"
    assert f"{combinator} takes durable tasks" in result.failure.message
    assert "'not a task'" in result.failure.message


# -- bounded fan-out ------------------------------------------------------------------


def _max_in_flight(history: list[ev.HistoryEvent]) -> int:
    """The most scheduled-but-unfinished activities at any point of the history."""
    open_tasks: set[int] = set()
    most = 0
    for event in history:
        if isinstance(event, ev.ActivityScheduled):
            open_tasks.add(event.task_id)
        elif isinstance(event, ev.ActivityCompleted | ev.ActivityFailedEvent):
            open_tasks.discard(event.task_id)
        most = max(most, len(open_tasks))
    return most


@pytest.fixture
def bounded(registry):
    @registry.activity(name="resize")
    def resize(ctx, n):
        if n % 5 == 0:
            raise ValueError(f"cannot resize {n}")
        return n * 10

    @registry.orchestrator(name="bounded")
    def bounded(ctx, job):
        def progress(done, total):
            ctx.set_custom_status({"done": done, "total": total})

        try:
            return (
                yield from ctx.bounded_fan_out(
                    "resize", job["items"], job["max"], on_progress=progress
                )
            )
        except FanOutFailed as exc:
            return {
                "results": [o.result for o in exc.outcomes],
                "failed": {o.index: o.failure.message for o in exc.failed},
            }


@pytest.mark.parametrize("max_parallel", [1, 2, 3, 7, 50])
def test_bounded_fan_out_never_exceeds_the_bound(bounded, runner, max_parallel):
    items = [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13]
    iid = runner.start("bounded", {"items": items, "max": max_parallel})
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.output == [n * 10 for n in items]
    assert _max_in_flight(status.history) == min(max_parallel, len(items))
    assert status.custom_status == {"done": len(items), "total": len(items)}
    assert runner.activity_calls("resize") == items  # started in input order


def test_bounded_fan_out_bound_holds_when_completions_arrive_in_one_batch(registry):
    @registry.orchestrator(name="bounded")
    def bounded(ctx, items):
        return (yield from ctx.bounded_fan_out("echo", items, max_parallel=2))

    result = execute(registry, REF, [], [ev.ExecutionStarted("bounded", 1, [1, 2, 3, 4])], now=T0)
    assert [a.input for a in result.actions] == [1, 2]
    history = list(result.new_history)
    # Both in-flight items finish in the same episode: exactly two more start.
    result = execute(
        registry, REF, history, [ev.ActivityCompleted(2, 2), ev.ActivityCompleted(1, 1)], now=T0
    )
    assert [a.input for a in result.actions] == [3, 4]
    history += result.new_history
    assert _max_in_flight(history) == 2
    result = execute(
        registry, REF, history, [ev.ActivityCompleted(4, 4), ev.ActivityCompleted(3, 3)], now=T0
    )
    assert result.output == [1, 2, 3, 4]


def test_bounded_fan_out_reports_failures_per_item(bounded, runner):
    items = [1, 5, 2, 10, 3]
    iid = runner.start("bounded", {"items": items, "max": 2})
    runner.run_until_idle()
    output = runner.status(iid).output
    assert output["results"] == [10, None, 20, None, 30]
    assert output["failed"] == {"1": "cannot resize 5", "3": "cannot resize 10"}
    assert runner.activity_calls("resize") == items  # a failure does not stop the rest


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_bounded_fan_out_rejects_a_bad_bound(registry, bad):
    @registry.orchestrator(name="bounded")
    def bounded(ctx, _):
        yield from ctx.bounded_fan_out("echo", [1], bad)

    result = execute(registry, REF, [], [ev.ExecutionStarted("bounded", 1)], now=T0)
    assert result.failure.type == f"{WorkflowCodeError.__module__}.WorkflowCodeError"
    assert "max_parallel must be a positive integer" in result.failure.message


def test_outcome_failure_property():
    assert Outcome(0, True, 5).failure is None
    details = failure_of(RuntimeError("x"))
    error = ActivityFailed("a", details)
    assert Outcome(1, False, None, error).failure is details
