"""long_job: the async HTTP pattern (202 + Location + Retry-After) with progress."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from tests.support.checks import assert_history_valid


def test_progress_and_report(runner, ledger):
    iid = runner.start("long_job", {"seconds": 0.05})
    runner.run_until_idle()

    state = runner.status(iid)
    assert state.status == "completed", state.failure
    assert state.output["steps"] == 5
    assert state.output["rows"] == 1000 * (1 + 2 + 3 + 4 + 5)
    assert state.output["report_url"].startswith("/reports/rep_")
    assert state.custom_status == {"progress": 100, "step": 5, "of": 5}
    assert [c["step"] for c in runner.activity_calls("run_job_step")] == [1, 2, 3, 4, 5]
    assert {c["seconds"] for c in runner.activity_calls("run_job_step")} == {0.01}
    assert [(r.service, r.reference) for r in ledger.records()] == [("reports", iid)]


def test_seconds_must_be_a_number(runner):
    iid = runner.start("long_job", {"seconds": "ten"})
    runner.run_until_idle()
    assert "'seconds' must be a number" in runner.status(iid).failure.message


@pytest.mark.integration
def test_started_and_polled_over_the_rest_api(workers, django_user_model):
    user = django_user_model.objects.create_superuser("poller", "", "pw")
    http = Client()
    http.force_login(user)

    started = http.post(
        "/api/v1/instances/",
        {"name": "long_job", "input": {"seconds": 1.5}},
        content_type="application/json",
    )
    assert started.status_code == 202, started.content
    assert int(started["Retry-After"]) >= 1
    status_url = started["Location"]
    assert status_url.endswith(f"/api/v1/instances/{started.json()['id']}/")

    progress = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        polled = http.get(status_url)
        body = polled.json()
        if polled.status_code == 200:
            break
        assert polled.status_code == 202 and "Retry-After" in polled
        assert body["status"] in ("pending", "running")
        if body.get("custom_status"):
            progress.append(body["custom_status"]["progress"])
        time.sleep(0.05)
    else:
        raise AssertionError("long_job did not finish within 30 s")

    assert body["status"] == "completed"
    assert body["output"]["rows"] == 15000 and body["output"]["steps"] == 5
    # What each poll saw is what the job had reported by then: its steps' progress, in order.
    # (How many steps a poll catches depends on the machine's pace, so that is not asserted.)
    assert progress and progress == sorted(progress), progress
    assert set(progress) <= {0, 20, 40, 60, 80, 100}, progress
    assert body["custom_status"] == {"progress": 100, "step": 5, "of": 5}
    assert_history_valid(body["id"])
