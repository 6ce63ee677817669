"""Exactly once under two workers: two drivers (threads, each with its own database
connection) claim the same due schedules at the same time on PostgreSQL (SKIP LOCKED),
over a clock moved minute by minute; every scheduled time starts exactly one instance."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from workflows.models import Instance
from workflows.schedules import driver
from workflows.schedules.models import Schedule, ScheduleRun

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

T0 = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)
SCHEDULES = 12
MINUTES = 30


def test_two_drivers_at_once_start_each_time_exactly_once(client, make_schedule):
    for n in range(SCHEDULES):
        make_schedule(f"pair-{n}", at=T0, cron="* * * * *", overlap="allow_all", catchup="all")
    barrier = threading.Barrier(2)
    claimed: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for minute in range(MINUTES):
                barrier.wait(timeout=60)  # both claim the same minute together
                report = driver.run_due(client.hub, now=T0 + timedelta(minutes=minute))
                claimed.append(report.claimed)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)

    assert not errors, errors
    expected = SCHEDULES * MINUTES
    assert sum(claimed) == expected  # each (schedule, minute) claimed by one driver only
    assert ScheduleRun.objects.filter(outcome="started").count() == expected
    assert Instance.objects.filter(instance_id__startswith="pair-").count() == expected
    assert sum(Schedule.objects.values_list("started", flat=True)) == expected
    assert sum(Schedule.objects.values_list("missed", flat=True)) == 0
