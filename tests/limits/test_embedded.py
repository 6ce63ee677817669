"""Limits end to end with the in-process worker (the embedded broker on SQLite).

Wake-ups, hand-overs and delayed wake-ups for the rate go through the configured broker.
"""

from __future__ import annotations

import pytest

from tests.support.checks import wait_until
from tests.support.limit_workflows import (
    SLOTS_PER_PERIOD,
    max_overlap,
    most_starts_in_a_period,
    runs,
    starts_per_slot,
)
from workflows.models import ActivityTask

pytestmark = pytest.mark.integration


@pytest.fixture
def running(fast_sweeps, settings, worker):
    settings.DURABLE_ACTIVITY_LIMITS = {}
    return worker


def test_a_fan_out_never_runs_more_than_the_limit_and_all_complete(client, running, tmp_path):
    gate = tmp_path / "gate"
    spec = {"activity": "lim_two", "count": 30, "sleep": 0.02, "dir": str(tmp_path), "tag": "two"}
    iid = client.start("lim_fan_out", {**spec, "gate": str(gate)})
    tasks = ActivityTask.objects.filter(instance__instance_id=iid)
    # The runs wait at the gate: both slots are taken, and no third.
    wait_until(lambda: tasks.filter(status="running").count() == 2, what="both slots taken")
    gate.touch()
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert state.output == 30
    found = runs(tmp_path)
    assert len(found) == 30 and all(r.end is not None for r in found)
    assert max_overlap(found) == 2
    assert {(t.runs, t.attempt) for t in tasks} == {(1, 1)}, "waiting is no attempt"


def test_the_rate_is_kept_with_delayed_wake_ups(client, running, settings, limiter_log, tmp_path):
    settings.DURABLE_ACTIVITY_LIMITS = {"lim_rate": {"rate_limit": "10/s"}}
    spec = {"activity": "lim_rate", "count": 25, "dir": str(tmp_path), "tag": "rate"}
    iid = client.start("lim_fan_out", spec)
    assert client.wait_for_completion(iid, timeout=60).status == "completed"
    assert len(runs(tmp_path)) == 25
    windows = limiter_log("lim_rate")
    slots = starts_per_slot(windows, period=1.0)
    assert len(windows) == sum(slots.values()) == 25, "each start went through the limiter"
    assert max(sum(n for _slot, n in window) for window in windows) <= 10
    assert most_starts_in_a_period(slots) <= 10
    # Hence the 25 starts span two periods at least.
    assert max(slots) - min(slots) >= 2 * SLOTS_PER_PERIOD
