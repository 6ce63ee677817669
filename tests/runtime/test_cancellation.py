"""Cooperative cancellation: terminate and continue-as-new cancel running activities; the
next heartbeat tells them (ActivityCancelled, ctx.is_cancelled) and whatever they return
is ignored. task_any losers are not cancelled while the orchestration goes on.

Driven by hand (a claimed task stands for one a worker runs); the last test terminates an
activity running on a real worker.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.checks import history, instance, kinds, snapshot, wait_until
from tests.support.driver import drive
from tests.support.episodes import run_episode
from workflows.engine import FailureDetails
from workflows.engine.activity import ActivityOutcome
from workflows.engine.heartbeat import Beat
from workflows.models import ActivityTask, InboxMessage
from workflows.runtime.activities import claim_task, finish_task, heartbeat_writer, run_claimed
from workflows.runtime.sweeper import fire_due_timers

pytestmark = [pytest.mark.integration, pytest.mark.one_real_broker]


def claimed(iid: str) -> ActivityTask:
    """The instance's activity task, claimed as a worker would before running it."""
    assert run_episode(instance(iid).pk)
    task = claim_task(ActivityTask.objects.get(instance=instance(iid)).pk)
    assert task is not None and task.status == "running"
    return task


def test_terminate_cancels_a_running_activity_at_its_next_heartbeat(client, tmp_path):
    marker = tmp_path / "marker"
    iid = client.start(
        "r_guarded", {"activity": "r_until_cancelled", "input": {"marker": str(marker)}}
    )
    task = claimed(iid)

    client.terminate(iid, reason="not needed")
    assert ActivityTask.objects.get(pk=task.pk).status == "cancelled"
    recorded, follow_up = run_claimed(task)  # the worker runs it only now

    assert (recorded, follow_up) == (False, None)
    assert json.loads(marker.read_text()) == {"cancelled": True, "beats": 1, "is_cancelled": True}
    task.refresh_from_db()
    assert (task.status, task.result, task.failure) == ("cancelled", None, None)
    assert kinds(iid)[-1] == "execution_terminated"
    assert "activity_failed" not in kinds(iid)


@pytest.mark.parametrize(
    "outcome",
    [ActivityOutcome(True, 42), ActivityOutcome(False, failure=FailureDetails("Error", "late"))],
    ids=["result", "failure"],
)
def test_the_outcome_of_a_cancelled_activity_is_ignored(client, outcome):
    iid = client.start("r_guarded", {"activity": "r_quick", "input": 42})
    task = claimed(iid)
    client.terminate(iid)
    before = snapshot(iid)

    assert finish_task(task, outcome, None) == (False, None)

    task.refresh_from_db()
    assert (task.status, task.result, task.failure) == ("cancelled", None, None)
    assert snapshot(iid) == before
    assert not InboxMessage.objects.filter(instance=instance(iid)).exists()
    assert heartbeat_writer(task)(Beat()) is False


def test_continue_as_new_cancels_the_running_activity(client, tmp_path):
    marker = tmp_path / "marker"
    iid = client.start("r_restarts", {"marker": str(marker)})
    task = claimed(iid)
    old_execution = task.execution_id

    client.raise_event(iid, "restart")
    assert run_episode(instance(iid).pk)  # continues as new while the activity runs
    assert instance(iid).execution_id != old_execution
    assert ActivityTask.objects.get(pk=task.pk).status == "cancelled"

    assert run_claimed(task) == (False, None)
    assert json.loads(marker.read_text())["cancelled"] is True
    drive()
    assert client.get_status(iid).output == {"generation": 2}


def test_a_task_any_loser_runs_on_and_its_result_is_ignored(client):
    iid = client.start("r_race", {"timer_seconds": 1})
    task = claimed(iid)
    fire_due_timers(task.task_hub, timezone.now() + timedelta(seconds=2))
    assert run_episode(instance(iid).pk)  # the timer won; the orchestration goes on

    assert heartbeat_writer(task)(Beat({"still": "wanted"})) is True  # not cancelled
    assert finish_task(task, ActivityOutcome(True, "released"), None)[0] is True
    client.raise_event(iid, "finish")
    drive()

    assert client.get_status(iid).output == "timer"  # the loser's result changed nothing
    assert ActivityTask.objects.get(pk=task.pk).status == "completed"


def test_a_loser_still_running_when_the_orchestration_ends_is_cancelled(client):
    iid = client.start("r_race", {"timer_seconds": 1})
    task = claimed(iid)
    fire_due_timers(task.task_hub, timezone.now() + timedelta(seconds=2))
    client.raise_event(iid, "finish")
    drive()

    assert client.get_status(iid).status == "completed"
    assert ActivityTask.objects.get(pk=task.pk).status == "cancelled"
    assert heartbeat_writer(task)(Beat()) is False


# -- on a live worker ----------------------------------------------------------------------


def test_terminate_while_running_on_a_worker(client, reliability_worker, tmp_path):
    marker = tmp_path / "marker"
    reliability_worker(DURABLE_HEARTBEAT_INTERVAL_SECONDS="0.2")
    spec = {"activity": "r_until_cancelled", "input": {"marker": str(marker), "max_seconds": 60}}
    iid = client.start("r_guarded", spec)
    wait_until(
        lambda: ActivityTask.objects.filter(
            instance=instance(iid), status="running", heartbeat_at__isnull=False
        ).exists(),
        what="the activity to run and heartbeat",
    )

    client.terminate(iid, reason="operator")
    wait_until(marker.exists, timeout=30, what="the activity to learn it was cancelled")

    facts = json.loads(marker.read_text())
    assert facts["cancelled"] is True and facts["is_cancelled"] is True and facts["beats"] >= 1
    (task,) = ActivityTask.objects.filter(instance=instance(iid))
    assert (task.status, task.result, task.failure) == ("cancelled", None, None)
    assert task.heartbeat_details["beats"] >= 1
    rows = history(iid)
    assert rows[-1].kind == "execution_terminated"
    assert not {"activity_completed", "activity_failed"} & {row.kind for row in rows}
    assert client.get_status(iid).status == "terminated"
