"""Heartbeats recorded on the task row, throttled, and read back by the next run after a
crash (same row, after its lease lapsed) or the next attempt after a failure (a new row).

Driven by hand (tests/support/driver.py) with explicit sweeper times: no worker, no sleep.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.support import reliability_workflows  # noqa: F401 - registers the workflows
from tests.support.checks import instance
from tests.support.driver import drive
from tests.support.episodes import run_episode
from tests.support.reliability_workflows import Crash
from workflows.engine.heartbeat import Beat
from workflows.models import ActivityTask
from workflows.runtime.activities import claim_task, execute_task, heartbeat_writer
from workflows.runtime.sweeper import fire_due_timers, sweep_once

pytestmark = pytest.mark.integration


def first_task(iid: str) -> ActivityTask:
    assert run_episode(instance(iid).pk)
    return ActivityTask.objects.get(instance=instance(iid), attempt=1)


def heartbeat_updates(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith("UPDATE") and "heartbeat_at" in q["sql"])


def test_heartbeats_are_throttled_to_one_write_per_interval(client, settings):
    settings.DURABLE_HEARTBEAT_INTERVAL_SECONDS = 60
    iid = client.start("r_import", {"rows": 5})
    task = first_task(iid)

    with CaptureQueriesContext(connection) as queries:
        assert execute_task(task.pk)

    # Five beats within the interval: only the first was written, the rest only remembered.
    assert heartbeat_updates(queries.captured_queries) == 1
    task.refresh_from_db()
    assert task.status == "completed"
    assert task.heartbeat_details == {"done": 1}
    assert task.started_at <= task.heartbeat_at <= task.finished_at


def test_with_interval_zero_every_heartbeat_is_written(client, settings):
    settings.DURABLE_HEARTBEAT_INTERVAL_SECONDS = 0
    iid = client.start("r_import", {"rows": 5})
    task = first_task(iid)

    with CaptureQueriesContext(connection) as queries:
        assert execute_task(task.pk)

    assert heartbeat_updates(queries.captured_queries) == 5
    task.refresh_from_db()
    assert task.heartbeat_details == {"done": 5}


def test_a_run_after_a_crash_resumes_from_the_last_heartbeat_written(client, settings):
    settings.DURABLE_HEARTBEAT_INTERVAL_SECONDS = 0
    iid = client.start("r_import", {"rows": 6, "crash_at": 4})
    task = first_task(iid)

    with pytest.raises(Crash):  # the worker "dies": no outcome, the lease stays
        execute_task(task.pk)
    task.refresh_from_db()
    assert (task.status, task.runs, task.heartbeat_details) == ("running", 1, {"done": 4})

    report = sweep_once(now=task.lease_expires_at + timedelta(seconds=1))
    assert report.leases_expired == 1
    drive()

    assert client.get_status(iid).output == {"resumed_from": 4, "attempt": 1}
    task.refresh_from_db()
    assert (task.status, task.runs) == ("completed", 2)


def test_a_crash_loses_the_details_the_throttle_held_back(client, settings):
    settings.DURABLE_HEARTBEAT_INTERVAL_SECONDS = 60
    iid = client.start("r_import", {"rows": 6, "crash_at": 4})
    task = first_task(iid)

    with pytest.raises(Crash):
        execute_task(task.pk)
    task.refresh_from_db()
    sweep_once(now=task.lease_expires_at + timedelta(seconds=1))
    drive()

    # Only the first beat was durable: the second run starts over from there.
    assert client.get_status(iid).output == {"resumed_from": 1, "attempt": 1}


def test_the_next_attempt_resumes_from_the_last_heartbeat_of_the_failed_one(client, settings):
    settings.DURABLE_HEARTBEAT_INTERVAL_SECONDS = 60
    iid = client.start("r_import", {"rows": 6, "fail_at": 4})
    task = first_task(iid)
    assert execute_task(task.pk)  # attempt 1 fails at row 4 (transient)
    task.refresh_from_db()
    # The throttle held {"done": 2..4} back; the failing attempt flushed the latest.
    assert (task.status, task.heartbeat_details) == ("failed", {"done": 4})

    drive()  # the failure is applied: a retry timer (100 ms)
    fire_due_timers(instance(iid).task_hub, timezone.now() + timedelta(seconds=1))
    run_episode(instance(iid).pk)  # attempt 2: a new row of the same call (if not yet)
    second = ActivityTask.objects.get(instance=instance(iid), attempt=2)
    assert second.call_id == task.call_id and second.pk != task.pk
    if second.status == "scheduled":  # not run yet by the driver: carried over as scheduled
        assert second.heartbeat_details == {"done": 4}
        assert second.heartbeat_at == task.heartbeat_at
    drive()

    assert client.get_status(iid).output == {"resumed_from": 4, "attempt": 2}


def test_a_heartbeat_writes_only_while_the_task_runs_for_this_run(client):
    iid = client.start("r_import", {"rows": 1})
    task = claim_task(first_task(iid).pk)
    write = heartbeat_writer(task)

    assert write(Beat({"done": 7})) is True
    assert write(Beat()) is True  # no details: the stored ones stay
    task.refresh_from_db()
    assert task.heartbeat_details == {"done": 7} and task.heartbeat_at is not None

    # The lease lapsed and another worker took the task over: this run is stale.
    ActivityTask.objects.filter(pk=task.pk).update(runs=F("runs") + 1)
    assert write(Beat({"done": 8})) is False
    task.refresh_from_db()
    assert task.heartbeat_details == {"done": 7}


def test_details_over_the_heartbeat_limit_fail_the_attempt_for_good(client, settings):
    settings.DURABLE_HEARTBEAT_MAX_BYTES = 100
    iid = client.start("r_import", {"rows": 3, "pad": 200})
    drive()

    status = client.get_status(iid)
    assert status.status == "failed"
    assert "heartbeat details" in status.failure["message"]
    assert "DURABLE_HEARTBEAT_MAX_BYTES" in status.failure["message"]
    assert ActivityTask.objects.filter(instance=instance(iid)).count() == 1  # not retried


def test_the_smaller_of_the_two_limits_applies(client, settings):
    settings.DURABLE_HEARTBEAT_MAX_BYTES = 10_000
    settings.DURABLE_MAX_PAYLOAD_BYTES = 150
    iid = client.start("r_import", {"rows": 3, "pad": 200})
    drive()

    status = client.get_status(iid)
    assert status.status == "failed"
    assert "DURABLE_MAX_PAYLOAD_BYTES" in status.failure["message"]


def test_the_instance_page_shows_the_last_heartbeat_and_details_only_to_payload_readers(
    client, django_user_model
):
    iid = client.start("r_import", {"rows": 1})
    task = claim_task(first_task(iid).pk)
    assert heartbeat_writer(task)(Beat({"done": "row-7-of-9"}))

    def user(name: str, *codenames: str):
        person = django_user_model.objects.create_user(name, password="x")
        person.user_permissions.set(
            Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames)
        )
        return person

    reader = user("reader", "view_instance", "view_payloads")
    viewer = user("viewer", "view_instance")
    for person, shown in ((reader, True), (viewer, False)):
        browser = Client()
        browser.force_login(person)
        page = browser.get(reverse("ui:instance-body", args=[iid]))
        html = page.content.decode()
        assert page.status_code == 200
        assert "Last heartbeat" in html and "ago</time>" in html
        assert ("row-7-of-9" in html) is shown
        assert ("details hidden" in html) is not shown
