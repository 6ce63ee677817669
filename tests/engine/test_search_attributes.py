"""ctx.upsert_search_attributes: checked at the call, recorded as a step, replay safe."""

from __future__ import annotations

import pytest

from workflows.engine import InstanceRef, NonDeterminismError, WorkflowCodeError, execute
from workflows.engine import events as ev
from workflows.engine.search_attributes import check_search_attributes, merge

from .builders import T0, episodes_of, recording_episodes, replay_then_apply, run_fresh


@pytest.fixture
def tagged(registry):
    @registry.orchestrator(name="tagged")
    def tagged(ctx, order):
        ctx.upsert_search_attributes({"customer": order["customer"], "region": "eu"})
        total = yield ctx.call_activity("double", order["amount"])
        ctx.upsert_search_attributes({"region": None, "total": total, "paid": True})
        return total

    return tagged


def test_attributes_are_recorded_and_merged(tagged, runner):
    iid = runner.start("tagged", {"customer": "acme", "amount": 21})
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.output == 42
    assert status.search_attributes == {"customer": "acme", "total": 42, "paid": True}
    upserts = [e for e in status.history if isinstance(e, ev.SearchAttributesUpserted)]
    assert [u.attributes for u in upserts] == [
        {"customer": "acme", "region": "eu"},
        {"region": None, "total": 42, "paid": True},
    ]
    assert [u.task_id for u in upserts] == [1, 3]  # steps, between the activity's step 2


def test_the_last_upsert_before_return_is_kept(registry, runner):
    @registry.orchestrator(name="ends_tagged")
    def ends_tagged(ctx, _):
        yield ctx.call_activity("echo", 1)
        ctx.upsert_search_attributes({"outcome": "ok"})
        return "done"

    iid = runner.start("ends_tagged")
    runner.run_until_idle()
    assert runner.status(iid).search_attributes == {"outcome": "ok"}
    kinds = [e.kind for e in runner.status(iid).history]
    assert kinds.index("search_attributes_upserted") < kinds.index("execution_completed")


def test_replay_gives_the_same_episodes(tagged, registry, runner):
    with recording_episodes() as recorded:
        iid = runner.start("tagged", {"customer": "acme", "amount": 1})
        runner.run_until_idle()
    episodes = episodes_of(recorded, iid)
    assert [r.new_history for r in run_fresh(registry, episodes)] == [
        e.result.new_history for e in episodes
    ]
    _, results = replay_then_apply(registry, episodes, 1)
    assert [r.actions for r in results] == [e.result.actions for e in episodes[1:]]


def test_a_recorded_upsert_where_the_code_now_calls_an_activity_is_non_deterministic(registry):
    @registry.orchestrator(name="changed")
    def changed(ctx, _):
        yield ctx.call_activity("echo", 1)

    history = [
        ev.OrchestratorStarted(T0),
        ev.ExecutionStarted("changed", 1),
        ev.SearchAttributesUpserted(1, {"customer": "acme"}),
    ]
    with pytest.raises(NonDeterminismError, match="search attributes customer"):
        execute(registry, InstanceRef("c-1"), history, [])


def test_event_payload_round_trip():
    event = ev.SearchAttributesUpserted(4, {"customer": "acme", "n": 1.5, "ok": False})
    assert ev.event_from_payload(event.kind, ev.event_to_payload(event)) == event


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"bad name": 1}, "name 'bad name' is not valid"),
        ({"1st": 1}, "name '1st' is not valid"),
        ({"x" * 65: 1}, "is not valid"),
        ({"customer": {"id": 1}}, "value of 'customer' is a dict"),
        ({"customer": [1]}, "value of 'customer' is a list"),
        ({"n": float("nan")}, "finite number"),
        ({"note": "x" * 201}, "201 characters"),
        ({}, "non-empty dict"),
        ("customer=acme", "non-empty dict"),
        ({f"a{i}": i for i in range(21)}, "at most 20"),
    ],
)
def test_bad_attributes_fail_at_the_call(attributes, message):
    with pytest.raises(WorkflowCodeError, match=message):
        check_search_attributes(attributes)


def test_bad_attributes_fail_the_orchestration_with_the_reason(registry, runner):
    @registry.orchestrator(name="bad_tags")
    def bad_tags(ctx, _):
        ctx.upsert_search_attributes({"customer": object()})
        yield ctx.call_activity("echo", 1)

    iid = runner.start("bad_tags")
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.status == "failed"
    assert "value of 'customer' is a object" in status.failure.message
    assert not any(isinstance(e, ev.SearchAttributesUpserted) for e in status.history)


def test_the_count_limit_counts_after_the_merge():
    current = {f"a{i}": i for i in range(20)}
    assert check_search_attributes({"a0": None, "b": 1}, current) == {"a0": None, "b": 1}
    with pytest.raises(WorkflowCodeError, match="at most 20"):
        check_search_attributes({"b": 1}, current)
    assert merge({"a": 1, "b": 2}, {"a": None, "c": 3}) == {"b": 2, "c": 3}


@pytest.fixture
def generations(registry):
    @registry.orchestrator(name="generations")
    def generations(ctx, n):
        seen = ctx.search_attributes
        ctx.upsert_search_attributes({f"g{n}_{i}": i for i in range(15)})
        yield ctx.call_activity("echo", n)
        if n < 2:
            ctx.continue_as_new(n + 1)
            return None
        return seen

    return generations


def test_attributes_kept_across_continue_as_new_count_toward_the_limit(generations, runner):
    iid = runner.start("generations", 0)
    runner.run_until_idle()
    status = runner.status(iid)
    # The second execution starts with the first's 15: 15 more would make 30.
    assert status.status == "failed"
    assert "at most 20 search attributes; this would make 30" in status.failure.message
    assert len(status.search_attributes) == 15


def test_a_new_execution_sees_the_attributes_it_carries(registry, runner):
    @registry.orchestrator(name="carries")
    def carries(ctx, n):
        if n == 0:
            ctx.upsert_search_attributes({"customer": "acme"})
            yield ctx.call_activity("echo", n)
            ctx.continue_as_new(1)
            return None
        ctx.upsert_search_attributes({"step": n})
        yield ctx.call_activity("echo", n)
        return ctx.search_attributes

    iid = runner.start("carries", 0)
    runner.run_until_idle()
    assert runner.status(iid).output == {"customer": "acme", "step": 1}
    history = runner.status(iid).history
    started = next(e for e in history if isinstance(e, ev.ExecutionStarted))
    assert started.search_attributes == {"customer": "acme"}


def test_a_history_without_carried_attributes_replays_from_none(registry):
    @registry.orchestrator(name="reads")
    def reads(ctx, _):
        return ctx.search_attributes
        yield  # a generator

    old = ev.event_from_payload("execution_started", {"name": "reads", "version": 1, "input": None})
    assert old.search_attributes is None
    result = execute(registry, InstanceRef("old-1"), [], [old], now=T0)
    assert result.actions[-1].output == {}
