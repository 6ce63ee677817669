"""Limits end to end with the in-process worker (the embedded broker on SQLite).

Wake-ups, hand-overs and delayed wake-ups for the rate go through the configured broker.
"""

from __future__ import annotations

import pytest

from tests.support.limit_workflows import max_overlap, max_starts_within, runs
from workflows.models import ActivityTask

pytestmark = pytest.mark.integration


@pytest.fixture
def running(fast_sweeps, settings, worker):
    settings.DURABLE_ACTIVITY_LIMITS = {}
    return worker


def test_a_fan_out_never_runs_more_than_the_limit_and_all_complete(client, running, tmp_path):
    spec = {"activity": "lim_two", "count": 30, "sleep": 0.02, "dir": str(tmp_path), "tag": "two"}
    iid = client.start("lim_fan_out", spec)
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert state.output == 30
    found = runs(tmp_path)
    assert len(found) == 30 and all(r.end is not None for r in found)
    assert max_overlap(found) == 2
    tasks = ActivityTask.objects.filter(instance__instance_id=iid)
    assert {(t.runs, t.attempt) for t in tasks} == {(1, 1)}, "waiting is no attempt"


def test_the_rate_is_kept_with_delayed_wake_ups(client, running, settings, tmp_path):
    settings.DURABLE_ACTIVITY_LIMITS = {"lim_rate": {"rate_limit": "10/s"}}
    spec = {"activity": "lim_rate", "count": 25, "dir": str(tmp_path), "tag": "rate"}
    iid = client.start("lim_fan_out", spec)
    assert client.wait_for_completion(iid, timeout=60).status == "completed"
    found = runs(tmp_path)
    assert len(found) == 25
    assert max_starts_within(found, 0.9) <= 10
    assert found[-1].start - found[0].start >= 2.0 - 0.05  # 25 starts span two periods
