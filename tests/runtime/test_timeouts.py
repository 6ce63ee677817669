"""Activity timeouts: carried from the call and the decorator into the task row, found by
the sweeper (one query a round) and recorded as ActivityTimedOut failures, retried by the
policy or caught by the orchestrator; a hung activity on a live worker.

Driven by hand with explicit sweeper times; the last test runs a real worker (a process on
a real broker, in-process on the embedded one).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.checks import history, instance, wait_until
from tests.support.driver import drive
from tests.support.episodes import run_episode
from workflows.engine.activity import ActivityOutcome
from workflows.engine.heartbeat import Beat
from workflows.models import ActivityTask
from workflows.runtime.activities import claim_task, finish_task, heartbeat_writer
from workflows.runtime.sweeper import fire_due_timers, sweep_once, time_out_activities

pytestmark = [pytest.mark.integration, pytest.mark.one_real_broker]

S = timedelta(seconds=1)
TIMED_OUT = "workflows.engine.errors.ActivityTimedOut"


def started(client, spec: dict) -> tuple[str, ActivityTask]:
    """An r_guarded instance whose activity a worker has claimed (and, say, hangs in)."""
    iid = client.start("r_guarded", spec)
    assert run_episode(instance(iid).pk)
    task = claim_task(ActivityTask.objects.get(instance=instance(iid)).pk)
    assert task is not None
    return iid, task


def failures(iid: str) -> list[dict]:
    return [row.payload["failure"] for row in history(iid) if row.kind == "activity_failed"]


def test_timeouts_travel_from_the_call_and_the_decorator_into_the_task(client):
    iid = client.start("r_guarded", {"activity": "r_guarded_default", "start_to_close": 5})
    assert run_episode(instance(iid).pk)

    task = ActivityTask.objects.get(instance=instance(iid))
    assert task.start_to_close == 5 * S  # the call's
    assert task.heartbeat_timeout == 10 * S  # the decorator's
    (scheduled,) = [row.payload for row in history(iid) if row.kind == "activity_scheduled"]
    assert (scheduled["start_to_close"], scheduled["heartbeat_timeout"]) == (5.0, 10.0)


def test_a_task_without_timeouts_never_times_out(client):
    iid, task = started(client, {"activity": "r_quick"})
    assert (task.start_to_close, task.heartbeat_timeout) == (None, None)
    assert time_out_activities(task.task_hub, task.started_at + timedelta(days=30)) == 0


def test_a_run_past_start_to_close_fails_with_activity_timed_out(client):
    iid, task = started(client, {"activity": "r_quick", "start_to_close": 5})

    assert sweep_once(now=task.started_at + 4 * S).activities_timed_out == 0
    assert sweep_once(now=task.started_at + 6 * S).activities_timed_out == 1
    assert sweep_once(now=task.started_at + 7 * S).activities_timed_out == 0  # once

    task.refresh_from_db()
    assert task.status == "failed" and task.failure["type"] == TIMED_OUT
    assert "start_to_close of 5 s" in task.failure["message"]
    drive()
    output = client.get_status(iid).output
    assert output["attempts"] == 1 and "timed out" in output["timed_out"]
    (failure,) = failures(iid)  # in history, so the timeline shows it
    assert failure["type"] == TIMED_OUT and "start_to_close" in failure["message"]


def test_the_late_result_and_heartbeat_of_a_timed_out_run_are_ignored(client):
    iid, task = started(client, {"activity": "r_quick", "start_to_close": 5})
    sweep_once(now=task.started_at + 6 * S)

    assert heartbeat_writer(task)(Beat({"late": True})) is False  # ctx.heartbeat() raises
    assert finish_task(task, ActivityOutcome(True, "late"), None) == (False, None)
    task.refresh_from_db()
    assert (task.status, task.result, task.heartbeat_details) == ("failed", None, None)
    drive()
    assert "timed_out" in client.get_status(iid).output
    assert [row.kind for row in history(iid)].count("activity_completed") == 0


def test_heartbeat_timeout_counts_from_the_last_heartbeat(client):
    iid, task = started(client, {"activity": "r_quick", "heartbeat_timeout": 10})
    beat_at = task.started_at + 5 * S
    ActivityTask.objects.filter(pk=task.pk).update(heartbeat_at=beat_at)

    assert sweep_once(now=task.started_at + 11 * S).activities_timed_out == 0  # beat 6 s ago
    assert sweep_once(now=beat_at + 10 * S).activities_timed_out == 0
    assert sweep_once(now=beat_at + 11 * S).activities_timed_out == 1

    task.refresh_from_db()
    assert task.failure["type"] == TIMED_OUT
    assert "heartbeat_timeout of 10 s" in task.failure["message"]


def test_without_any_heartbeat_it_counts_from_the_start(client):
    iid, task = started(client, {"activity": "r_quick", "heartbeat_timeout": 10})
    assert sweep_once(now=task.started_at + 10 * S).activities_timed_out == 0
    assert sweep_once(now=task.started_at + 11 * S).activities_timed_out == 1


def test_a_timed_out_attempt_is_retried_and_the_next_one_resumes(client):
    spec = {
        "activity": "r_rows",
        "input": {"rows": 5},
        "heartbeat_timeout": 10,
        "max_attempts": 2,
    }
    iid, task = started(client, spec)
    assert heartbeat_writer(task)(Beat({"done": 3})) is True  # progress, then it hangs
    task.refresh_from_db()

    assert sweep_once(now=task.heartbeat_at + 11 * S).activities_timed_out == 1
    drive()  # the policy retries it: a retry timer (100 ms)
    fire_due_timers(task.task_hub, timezone.now() + S)
    drive()

    assert client.get_status(iid).output == {"result": {"resumed_from": 3, "attempt": 2}}
    second = ActivityTask.objects.get(instance=instance(iid), attempt=2)
    assert (second.call_id, second.heartbeat_timeout) == (task.call_id, 10 * S)
    assert [f["type"] for f in failures(iid)] == [TIMED_OUT]


def test_a_policy_listing_activity_timed_out_does_not_retry_it(client):
    spec = {"activity": "r_quick", "start_to_close": 1, "max_attempts": 3, "timeouts_final": True}
    iid, task = started(client, spec)
    sweep_once(now=task.started_at + 2 * S)
    drive()

    assert client.get_status(iid).output["attempts"] == 1
    assert ActivityTask.objects.filter(instance=instance(iid)).count() == 1


def test_one_query_finds_the_overdue_tasks(client):
    running = [started(client, {"activity": "r_quick", "start_to_close": 60})[1] for _ in range(3)]
    running += [started(client, {"activity": "r_quick"})[1] for _ in range(2)]
    hub, now = running[0].task_hub, running[0].started_at + 30 * S

    with CaptureQueriesContext(connection) as nothing_due:
        assert time_out_activities(hub, now) == 0
    with CaptureQueriesContext(connection) as all_due:
        assert time_out_activities(hub, now + 60 * S) == 3

    selects = [q["sql"] for q in nothing_due.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 1 and "workflows_activitytask" in selects[0]
    # With three to fail: the same query, the outcome writer's, the inbox, no more.
    written = [q for q in all_due.captured_queries if q["sql"].startswith(("SELECT", "UPDATE"))]
    assert len(written) <= 3


# -- a hung activity on a live worker --------------------------------------------------------


def test_a_hung_activity_on_a_live_worker_times_out(client, reliability_worker, tmp_path):
    release, marker = tmp_path / "release", tmp_path / "marker"
    # Short leases: the live worker keeps renewing them, the lease never lapses.
    reliability_worker(DURABLE_ACTIVITY_LEASE_SECONDS="2", DURABLE_HEARTBEAT_INTERVAL_SECONDS="0")
    spec = {
        "activity": "r_hang",
        "input": {"release": str(release), "marker": str(marker), "max_seconds": 60},
        "heartbeat_timeout": 3,
    }
    iid = client.start("r_guarded", spec)

    status = client.wait_for_completion(iid, timeout=60)
    assert status.status == "completed"
    assert status.output["attempts"] == 1 and "heartbeat_timeout" in status.output["timed_out"]
    (task,) = ActivityTask.objects.filter(instance=instance(iid))
    assert (task.status, task.runs) == ("failed", 1)  # timed out, never run again
    assert task.failure["type"] == TIMED_OUT

    release.touch()  # it wakes up: its next heartbeat learns it is no longer wanted
    wait_until(marker.exists, timeout=30, what="the hung activity to heartbeat again")
    assert json.loads(marker.read_text()) == {"cancelled": True, "is_cancelled": True}
    task.refresh_from_db()
    assert (task.status, task.result) == ("failed", None)
