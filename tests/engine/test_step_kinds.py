"""The executor's one table of step kinds: complete, consistent with the event classes,
and actually used for recording, replay checks and task outcomes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from workflows.engine import InstanceRef, NonDeterminismError, Orchestration, execute
from workflows.engine import actions as act
from workflows.engine import events as ev
from workflows.engine.step_kinds import STEP_KINDS

from .builders import SCHEDULING_EVENTS, T0, TASK_DONE_EVENTS, History

REF = InstanceRef("steps-1")

# One sample of every kind of step, with every field set (so a dropped field shows).
SAMPLES: list[act.StepAction] = [
    act.ScheduleActivity(1, "echo", {"x": 1}, 2, 1, "key", 30.0, 5.0),
    act.CreateTimer(2, T0 + timedelta(seconds=5), "retry"),
    act.StartSubOrchestration(3, "child", "parent:1:3", 2, [1]),
    act.RecordMarker(4, "patch-1"),
    act.RegisterCompensation(5, "undo", {"id": 1}, "reserve", 1),
    act.RequestApproval(6, "expense", "managers", {"sum": 5}, T0),
    act.CallEntity(7, "@counter@a", "add", {"n": 1}),
    act.SignalEntity(8, "@counter@a", "add", 2),
    act.LockEntity(9, "@counter@a"),
    act.ReleaseLocks(10, ("@counter@a", "@counter@b")),
    act.UpsertSearchAttributes(11, {"customer": "acme", "amount": 5}),
]


def test_every_step_action_class_has_an_entry():
    def subclasses(cls: type) -> set[type]:
        return {c for s in cls.__subclasses__() for c in {s} | subclasses(s)}

    assert set(STEP_KINDS) == subclasses(act.StepAction)
    assert {type(a) for a in SAMPLES} == set(STEP_KINDS)


def test_the_table_agrees_with_the_event_lists_of_the_tests():
    assert {k.recorded_as for k in STEP_KINDS.values()} == set(SCHEDULING_EVENTS)
    outcomes = {k.completed_by for k in STEP_KINDS.values()} | {
        k.failed_by for k in STEP_KINDS.values()
    }
    assert outcomes - {None} == set(TASK_DONE_EVENTS)


@pytest.mark.parametrize("action", SAMPLES, ids=lambda a: type(a).__name__)
def test_record_copies_every_field_into_its_event(action):
    kind = STEP_KINDS[type(action)]
    event = kind.record(action)
    assert type(event) is kind.recorded_as
    assert dataclasses.asdict(event) == dataclasses.asdict(action)
    assert kind.matches(event, action)
    assert kind.describe(event) == kind.describe(action)


def test_matches_compares_names_but_not_inputs_or_times():
    activity = STEP_KINDS[act.ScheduleActivity]
    recorded = ev.ActivityScheduled(1, "echo", {"x": 1})
    assert activity.matches(recorded, act.ScheduleActivity(1, "echo", {"x": 2}))
    assert not activity.matches(recorded, act.ScheduleActivity(1, "double", {"x": 1}))
    timer = STEP_KINDS[act.CreateTimer]
    assert timer.matches(ev.TimerCreated(1, T0), act.CreateTimer(1, T0 + timedelta(days=1)))


def test_a_recorded_step_of_another_kind_is_non_deterministic(registry):
    @registry.orchestrator(name="one_step")
    def one_step(ctx, _):
        yield ctx.create_timer(timedelta(seconds=1))

    history = History().episode().started("one_step").scheduled(1, "echo").events
    with pytest.raises(NonDeterminismError, match="activity 'echo'.*a timer at"):
        execute(registry, REF, history, [])


def test_outcome_events_resolve_through_the_table(registry):
    @registry.orchestrator(name="waits")
    def waits(ctx, _):
        echoed, fired_at = yield ctx.task_all(
            [ctx.call_activity("echo", 1), ctx.create_timer(timedelta(seconds=3))]
        )
        return [echoed, fired_at.isoformat()]  # a timer completes with its fire time

    h = History().episode().started("waits").scheduled(1, "echo", 1).timer(2, 3)
    orchestration = Orchestration(registry, REF)
    orchestration.replay(h.events)
    assert orchestration.activities_in_flight == 1
    result = orchestration.apply(
        [ev.ActivityCompleted(1, (1,)), ev.TimerFired(2, T0 + timedelta(seconds=3))],
        now=T0 + timedelta(seconds=3),
    )
    assert orchestration.activities_in_flight == 0
    assert result.output == [[1], (T0 + timedelta(seconds=3)).isoformat()]
