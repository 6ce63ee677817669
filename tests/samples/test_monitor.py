"""deployment_monitor: polling with durable timers, bounded by attempts and a deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.checks import assert_history_valid, instance
from workflows.models import HistoryEvent
from workflows.samples.models import ServiceCall
from workflows.samples.monitor import CHECKS_PER_EXECUTION

SPEC = {"deployment_id": "web-42", "ready_after_checks": 7, "interval_seconds": 10}


def test_polls_until_ready_continuing_as_new_to_keep_history_small(runner, ledger):
    iid = runner.start("deployment_monitor", {**SPEC, "max_attempts": 30})
    runner.run_until_idle()
    assert runner.status(iid).custom_status["state"] == "waiting"
    assert len(runner.activity_calls("check_deployment")) == 1

    runner.advance(timedelta(seconds=10))
    assert len(runner.activity_calls("check_deployment")) == 2  # one check per interval
    runner.run_until_idle(auto_advance=True)

    state = runner.status(iid)
    assert state.output == {"deployment_id": "web-42", "ready": True, "attempts": 7}
    assert state.execution == 2  # continued as new after CHECKS_PER_EXECUTION checks
    scheduled = [e for e in state.history if e.kind == "activity_scheduled"]
    assert len(scheduled) == 7 - CHECKS_PER_EXECUTION  # this execution's checks only
    assert state.history[1].input["attempt"] == CHECKS_PER_EXECUTION
    assert ledger.count("deployments", "status", "web-42") == 7


def test_gives_up_after_max_attempts(runner):
    iid = runner.start("deployment_monitor", {**SPEC, "ready_after_checks": 100, "max_attempts": 3})
    runner.run_until_idle(auto_advance=True)

    state = runner.status(iid)
    assert state.output == {
        "deployment_id": "web-42",
        "ready": False,
        "attempts": 3,
        "reason": "max_attempts",
    }
    assert state.custom_status["state"] == "gave_up"


def test_gives_up_at_the_deadline_carried_across_executions(runner):
    spec = {**SPEC, "ready_after_checks": 100, "max_attempts": 100, "timeout_seconds": 65}
    iid = runner.start("deployment_monitor", spec)
    runner.run_until_idle(auto_advance=True)

    state = runner.status(iid)
    assert (state.output["reason"], state.output["attempts"]) == ("deadline", 8)
    assert state.execution == 2
    assert state.history[1].input["deadline"] == "2026-01-01T00:01:05+00:00"


@pytest.mark.integration
def test_end_to_end_history_stays_bounded(workers, client):
    spec = {**SPEC, "ready_after_checks": 12, "interval_seconds": 0.1, "max_attempts": 50}
    # The deadline (by default interval x max_attempts: 5 s) is not what this test is
    # about: 12 checks take longer than 5 s on a busy machine.
    spec["timeout_seconds"] = 3600
    iid = client.start("deployment_monitor", spec)
    state = client.wait_for_completion(iid, timeout=60)

    assert state.status == "completed", state.failure
    assert state.output == {"deployment_id": "web-42", "ready": True, "attempts": 12}
    inst = instance(iid)
    assert inst.generation == 3 and inst.input["attempt"] == 2 * CHECKS_PER_EXECUTION
    # The first execution's history is gone; the one before the current is kept.
    kept = set(HistoryEvent.objects.filter(instance=inst).values_list("execution_id", flat=True))
    assert len(kept) == 2 and inst.execution_id in kept
    assert_history_valid(iid)
    assert ServiceCall.objects.filter(reference="web-42", applied_at__isnull=False).count() == 12
