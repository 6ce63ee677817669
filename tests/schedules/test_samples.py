"""The nightly_cleanup sample as a scheduled workflow: a run for a scheduled time purges
the instances finished more than keep_days before that time, and nothing newer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.bulk.conftest import drive
from workflows.models import AuditEntry, Instance
from workflows.samples import nightly_cleanup  # noqa: F401 - registers the sample

pytestmark = pytest.mark.django_db

NIGHT = datetime(2026, 4, 15, 0, 30, tzinfo=UTC)  # 02:30 in Berlin, in the past


def test_a_scheduled_run_purges_what_finished_before_the_retention_cutoff(client):
    for name, age in (("old-1", 40), ("old-2", 31), ("recent", 29)):
        client.start("t_wait_event", None, instance_id=name)
        Instance.objects.filter(instance_id=name).update(
            status="completed", completed_at=NIGHT - timedelta(days=age)
        )
    client.create_schedule(
        "nightly-cleanup",
        {
            "orchestrator": "nightly_cleanup",
            "cron": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "input": {"keep_days": 30},
            "pass_scheduled_time": True,
        },
    )
    client.backfill_schedule("nightly-cleanup", NIGHT, NIGHT)
    run = "nightly-cleanup@2026-04-15T00:30:00Z"

    assert drive(client, run) == "completed"
    assert Instance.objects.get(instance_id=run).output == {
        "purged": 2,
        "finished_before": "2026-03-16T00:30:00+00:00",
    }
    assert sorted(Instance.objects.values_list("instance_id", flat=True)) == sorted(["recent", run])
    assert AuditEntry.objects.get(action="purge").actor == "schedule:nightly_cleanup"
