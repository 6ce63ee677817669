"""Payload size limits where activity results and orchestrator outputs enter history."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from tests.support.observed import history, kinds, row
from workflows.engine import PayloadTooLarge
from workflows.engine.payloads import check_size
from workflows.models import ActivityTask
from workflows.versioning import check_replay


def rejected(what: str) -> float:
    return REGISTRY.get_sample_value("durable_payloads_rejected_total", {"what": what}) or 0.0


@pytest.mark.parametrize(
    ("value", "limit", "too_large"),
    [
        ("x" * 98, 100, False),  # 98 characters + 2 quotes
        ("x" * 99, 100, True),
        ("é" * 49, 100, False),  # 2 bytes each in UTF-8
        ("é" * 50, 100, True),
        ({"k": "v" * 200}, 100, True),
        ([1, 2, 3], 100, False),
        (10**200, 100, False),  # numbers are never checked
        (None, 1, False),
    ],
)
def test_check_size_measures_the_stored_json(value, limit, too_large):
    if too_large:
        with pytest.raises(PayloadTooLarge, match="pass a reference"):
            check_size(value, "thing", limit)
    else:
        check_size(value, "thing", limit)


@pytest.mark.integration
def test_an_oversized_activity_result_fails_the_activity_without_retries(
    worker, durable_client, settings
):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 2000
    before = rejected("activity_result")

    big = durable_client.start("tv_big_result", 5000)
    small = durable_client.start("tv_big_result", 100)
    big_state = durable_client.wait_for_completion(big, timeout=30)
    small_state = durable_client.wait_for_completion(small, timeout=30)

    assert small_state.output == {"length": 100}
    assert big_state.status == "completed"  # the orchestrator caught ActivityFailed
    assert big_state.output["attempts"] == 1  # too large is never retried
    message = big_state.output["failed"]
    assert "result of activity 'tv_blob' is 5002 bytes" in message
    assert "over the limit of 2000 bytes" in message
    assert "Store the artifact elsewhere" in message and "pass a reference" in message
    [task] = ActivityTask.objects.filter(instance=row(big), name="tv_blob")
    assert task.status == "failed" and task.result is None
    assert task.failure["type"] == "workflows.engine.errors.PayloadTooLarge"
    assert "activity_completed" not in kinds(big)
    assert rejected("activity_result") - before == 1


@pytest.mark.integration
def test_an_oversized_output_fails_the_orchestration(worker, durable_client, settings):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 2000
    before = rejected("orchestrator_output")

    iid = durable_client.start("tv_big_output", 5000)
    state = durable_client.wait_for_completion(iid, timeout=30)

    assert state.status == "failed"
    assert state.output is None
    assert state.failure["type"] == "workflows.engine.errors.PayloadTooLarge"
    assert "orchestrator output is 5002 bytes" in state.failure["message"]
    assert "pass a reference" in state.failure["message"]
    assert history(iid)[-1].kind == "execution_failed"
    assert rejected("orchestrator_output") - before == 1
    # Replaying under the same limit ends the same way.
    report = check_replay(include_finished=True)
    assert report.ok and report.finished_checked == 1
