"""Retention: periodic purge by the sweeper; history size warnings."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from workflows.client import DurableClient
from workflows.models import AuditEntry, HistoryEvent, Instance
from workflows.retention import history_warning, purge_expired, purge_if_due
from workflows.runtime.sweeper import sweep_once


def finished(client: DurableClient, days_ago: float) -> str:
    """A terminated instance whose end lies ``days_ago`` days back."""
    iid = client.start("tv_wait", None)
    client.terminate(iid, "done")
    Instance.objects.filter(task_hub=client.hub, instance_id=iid).update(
        completed_at=timezone.now() - timedelta(days=days_ago)
    )
    return iid


def ids(hub: str) -> set[str]:
    return set(Instance.objects.filter(task_hub=hub).values_list("instance_id", flat=True))


def test_retention_is_off_by_default(db):
    client = DurableClient(hub="ret_off")
    old = finished(client, days_ago=400)

    assert purge_if_due("ret_off") == 0
    assert purge_expired("ret_off") == 0
    assert ids("ret_off") == {old}


def test_purge_removes_only_instances_finished_before_the_cutoff(db, settings):
    settings.DURABLE_RETENTION_DAYS = 7
    client = DurableClient(hub="ret_cut")
    old = [finished(client, days_ago=10), finished(client, days_ago=8)]
    recent = finished(client, days_ago=6)
    running = client.start("tv_wait", None)
    Instance.objects.filter(instance_id=running).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    other_hub = finished(DurableClient(hub="ret_other"), days_ago=30)

    purged = purge_expired("ret_cut")

    assert purged == 2
    assert ids("ret_cut") == {recent, running}
    assert ids("ret_other") == {other_hub}
    assert not HistoryEvent.objects.filter(instance__instance_id__in=old).exists()
    audit = AuditEntry.objects.get(actor="retention")
    assert (audit.action, audit.detail["count"], audit.detail["hub"]) == ("purge", 2, "ret_cut")


def test_purge_works_in_batches_oldest_first(db, settings):
    settings.DURABLE_RETENTION_DAYS = 1
    settings.DURABLE_RETENTION_BATCH = 1
    client = DurableClient(hub="ret_batch")
    oldest = finished(client, days_ago=9)
    older = finished(client, days_ago=5)

    first = purge_expired("ret_batch")
    left = ids("ret_batch")
    second = purge_expired("ret_batch")

    assert (first, second) == (1, 1)
    assert oldest not in left and older in left
    assert ids("ret_batch") == set()


def test_the_sweeper_purges_at_most_once_per_interval(db, settings):
    settings.DURABLE_RETENTION_DAYS = 1
    settings.DURABLE_RETENTION_INTERVAL_SECONDS = 3600
    client = DurableClient(hub="ret_sweep")
    finished(client, days_ago=3)

    first = sweep_once("ret_sweep")
    late = finished(client, days_ago=3)
    throttled = sweep_once("ret_sweep")
    settings.DURABLE_RETENTION_INTERVAL_SECONDS = 0
    again = sweep_once("ret_sweep")

    assert (first.purged, throttled.purged, again.purged) == (1, 0, 1)
    assert late not in ids("ret_sweep")


def test_history_warning_suggests_continue_as_new(db, settings):
    settings.DURABLE_HISTORY_WARNING_EVENTS = 100
    client = DurableClient()
    iid = client.start("tv_wait", None)
    Instance.objects.filter(instance_id=iid).update(history_length=100)

    below = history_warning(Instance(history_length=99))
    state_warning = history_warning(client.get_status(iid))

    assert below is None
    assert "100 events" in state_warning
    assert "ctx.continue_as_new" in state_warning
    assert "DURABLE_HISTORY_WARNING_EVENTS" in state_warning


@pytest.mark.integration
def test_crossing_the_threshold_logs_one_warning(worker, durable_client, settings, records):
    settings.DURABLE_HISTORY_WARNING_EVENTS = 8

    iid = durable_client.start("tv_logged", 4, business_key="SO-9")
    state = durable_client.wait_for_completion(iid, timeout=30)

    warnings = [
        r for r in records if r.levelno == logging.WARNING and "continue_as_new" in r.getMessage()
    ]
    assert state.history_length > 8
    assert len(warnings) == 1
    assert (warnings[0].instance_id, warnings[0].business_key) == (iid, "SO-9")
