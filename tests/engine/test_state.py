"""ExecutionState: the run-time bookkeeping behind the context, method by method."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import ActivityFailed, FailureDetails, SubOrchestrationFailed
from workflows.engine import actions as act
from workflows.engine import events as ev
from workflows.engine.context import OrchestrationContext
from workflows.engine.state import ExecutionState
from workflows.engine.tasks import CompletableTask

from .builders import T0

BOOM = FailureDetails("ValueError", "boom")


def activity(state: ExecutionState, name: str = "echo") -> CompletableTask:
    """Schedule an activity the way the context does; returns its open task."""
    task_id = state.next_task_id()
    task = CompletableTask(task_id, "activity", name)
    state.schedule(act.ScheduleActivity(task_id, name, None, 1, task_id), task)
    return task


# -- step numbers ----------------------------------------------------------------------


def test_task_ids_count_up_and_upcoming_only_peeks():
    state = ExecutionState()
    assert state.upcoming_task_id == 1
    assert state.upcoming_task_id == 1
    assert [state.next_task_id() for _ in range(3)] == [1, 2, 3]
    assert state.upcoming_task_id == 4


def test_uuid_numbers_do_not_take_step_numbers():
    state = ExecutionState()
    assert [state.next_uuid_number(), state.next_uuid_number()] == [1, 2]
    assert state.next_task_id() == 1


# -- decisions ---------------------------------------------------------------------------


def test_drain_pending_returns_decisions_in_step_order_and_empties():
    state = ExecutionState()
    ids = [state.next_task_id() for _ in range(3)]
    for task_id in reversed(ids):
        state.schedule(act.RecordMarker(task_id, f"m{task_id}"))
    assert state.first_pending() == act.RecordMarker(1, "m1")
    assert [a.task_id for a in state.drain_pending()] == [1, 2, 3]
    assert state.drain_pending() == []
    assert state.first_pending() is None


def test_take_pending_removes_one_decision():
    state = ExecutionState()
    first, second = activity(state), activity(state, "double")
    assert state.take_pending(first.task_id) == act.ScheduleActivity(1, "echo", None, 1, 1)
    assert state.take_pending(first.task_id) is None
    assert state.first_pending() == act.ScheduleActivity(2, "double", None, 1, 2)
    # Recorded or not, the task still waits for its outcome.
    assert state.count_open("activity") == 2
    assert second.task_id == 2


def test_a_step_cannot_be_taken_twice():
    state = ExecutionState()
    task_id = state.next_task_id()
    state.schedule(act.RecordMarker(task_id, "a"))
    with pytest.raises(ValueError, match="Step 1 is already taken"):
        state.schedule(act.RecordMarker(task_id, "b"))


def test_create_timer_schedules_a_step_and_opens_a_task():
    state = ExecutionState()
    fire_at = T0 + timedelta(minutes=5)
    timer = state.create_timer(fire_at, purpose="retry")
    assert timer.task_id == 1 and timer.kind == "timer"
    assert state.drain_pending() == [act.CreateTimer(1, fire_at, "retry")]
    assert state.count_open("timer") == 1
    assert state.count_open("activity") == 0


# -- task outcomes -------------------------------------------------------------------------


def test_resolve_completes_the_open_task_once():
    state = ExecutionState()
    task = activity(state)
    assert state.resolve(task.task_id, {"ok": 1}) is True
    assert task.is_complete and task.result == {"ok": 1}
    assert state.count_open("activity") == 0
    # A duplicate delivery finds nothing waiting and changes nothing.
    assert state.resolve(task.task_id, "again") is False
    assert task.result == {"ok": 1}


def test_resolve_of_an_unknown_task_is_ignored():
    assert ExecutionState().resolve(7, "x") is False


def test_reject_fails_an_activity_with_activity_failed():
    state = ExecutionState()
    task = activity(state, "charge")
    assert state.reject(task.task_id, BOOM) is True
    assert isinstance(task.error, ActivityFailed)
    assert task.error.name == "charge" and task.error.failure == BOOM
    assert state.reject(task.task_id, BOOM) is False


def test_reject_fails_a_sub_orchestration_with_its_child_id():
    state = ExecutionState()
    task_id = state.next_task_id()
    task = CompletableTask(task_id, "sub_orchestration", "child", "parent:1:1")
    state.schedule(act.StartSubOrchestration(task_id, "child", "parent:1:1"), task)
    state.reject(task_id, BOOM)
    assert isinstance(task.error, SubOrchestrationFailed)
    assert task.error.instance_id == "parent:1:1"


def test_count_open_counts_by_kind():
    state = ExecutionState()
    tasks = [activity(state) for _ in range(3)]
    state.create_timer(T0)
    assert state.count_open("activity") == 3
    state.resolve(tasks[1].task_id, None)
    assert state.count_open("activity") == 2
    assert state.count_open("timer") == 1


# -- external events -------------------------------------------------------------------------


def test_events_go_to_waiters_oldest_first():
    state = ExecutionState()
    first, second = state.wait_for_event("go"), state.wait_for_event("go")
    state.deliver_event(ev.EventRaised("go", 1))
    assert first.result == 1 and not second.is_complete
    state.deliver_event(ev.EventRaised("go", 2))
    assert second.result == 2


def test_an_early_event_is_buffered_and_decoded_like_a_live_one():
    state = ExecutionState()
    state.deliver_event(ev.EventRaised("go", (1, 2)))
    state.deliver_event(ev.EventRaised("other", "x"))
    task = state.wait_for_event("go")
    assert task.is_complete and task.result == [1, 2]  # as storage returns it
    assert not state.wait_for_event("go").is_complete  # consumed once


def test_stop_waiting_sends_the_next_event_to_the_buffer():
    state = ExecutionState()
    withdrawn = state.wait_for_event("go")
    state.stop_waiting(withdrawn)
    state.stop_waiting(withdrawn)  # harmless twice
    state.deliver_event(ev.EventRaised("go", "late"))
    assert not withdrawn.is_complete
    assert state.wait_for_event("go").result == "late"


# -- live updates, custom status, recorded steps --------------------------------------------


def test_live_updates_are_dropped_while_replaying():
    state = ExecutionState(replaying=True)
    state.emit_live(act.UpdateApproval(1, "expired"))
    state.is_replaying = False
    state.emit_live(act.UpdateApproval(2, "expired"))
    assert state.drain_live_updates() == [act.UpdateApproval(2, "expired")]
    assert state.drain_live_updates() == []


def test_custom_status_is_kept():
    state = ExecutionState()
    assert state.custom_status is None
    state.set_custom_status({"done": 3})
    assert state.custom_status == {"done": 3}


def test_recorded_steps_are_added_to_not_replaced():
    state = ExecutionState()
    state.remember_recorded([ev.MarkerRecorded(1, "a")])
    state.remember_recorded([ev.ActivityScheduled(2, "echo")])
    assert state.recorded_at(1) == ev.MarkerRecorded(1, "a")
    assert state.recorded_at(2) == ev.ActivityScheduled(2, "echo")
    assert state.recorded_at(3) is None


# -- continue-as-new -------------------------------------------------------------------------


def test_continue_as_new_carries_buffered_then_late_events():
    state = ExecutionState()
    assert not state.continues_as_new
    with pytest.raises(ValueError, match="not requested"):
        state.continue_as_new_action()
    state.deliver_event(ev.EventRaised("early", 1))
    state.request_continue_as_new({"n": 2})
    assert state.continues_as_new
    late = [ev.EventRaised("late", 2), ev.TimerFired(9, T0)]
    action = state.continue_as_new_action(late)
    assert action == act.ContinueAsNew(
        {"n": 2}, (ev.EventRaised("early", 1), ev.EventRaised("late", 2))
    )


def test_continue_as_new_can_drop_unprocessed_events():
    state = ExecutionState()
    state.deliver_event(ev.EventRaised("early", 1))
    state.request_continue_as_new(None, keep_unprocessed_events=False)
    assert state.continue_as_new_action([ev.EventRaised("late", 2)]) == act.ContinueAsNew(None)


# -- the context delegates -------------------------------------------------------------------


def test_the_context_reads_and_writes_through_its_state():
    state = ExecutionState(now=T0, replaying=True)
    ctx = OrchestrationContext("i-1", "1", "flow", 1, state=state)
    assert ctx.is_replaying is True
    assert ctx.current_utc_datetime == T0
    state.current_utc_datetime = T0 + timedelta(hours=1)
    assert ctx.current_utc_datetime == T0 + timedelta(hours=1)

    ctx.create_timer(timedelta(minutes=1))
    ctx.set_custom_status(("half",))
    assert state.custom_status == ["half"] == ctx.custom_status
    ctx.continue_as_new(5)
    assert state.continues_as_new
    assert state.drain_pending() == [act.CreateTimer(1, T0 + timedelta(hours=1, minutes=1))]


def test_the_context_state_is_read_only_to_orchestrator_code():
    ctx = OrchestrationContext("i-1", "1", "flow", 1)
    with pytest.raises(AttributeError):
        ctx.is_replaying = True  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ctx.current_utc_datetime = T0  # type: ignore[misc]
