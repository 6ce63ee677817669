"""terminate / suspend / resume / restart / purge: 200 or 202, 409 where the state says no."""

import pytest

from .support import instance_count, url

pytestmark = pytest.mark.django_db


def audit(action: str) -> list[tuple[str, str]]:
    from workflows.models import AuditEntry

    return [(e.actor, e.note) for e in AuditEntry.objects.filter(action=action)]


def test_terminate_is_200_with_the_new_status_and_is_audited(api, waiting):
    response = api.post(url(waiting, "terminate/"), {"reason": "customer cancelled"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "terminated"
    assert response.json()["failure"]["message"] == "customer cancelled"
    assert audit("terminate") == [("operator", "customer cancelled")]


def test_terminate_without_a_body(api, waiting):
    assert api.post(url(waiting, "terminate/")).status_code == 200


def test_terminating_a_finished_instance_is_409(api, finished):
    response = api.post(url(finished, "terminate/"))

    assert response.status_code == 409
    assert "already finished" in response.json()["detail"]


def test_suspend_and_resume(api, waiting):
    suspended = api.post(url(waiting, "suspend/"), {"reason": "look first"}, format="json")
    again = api.post(url(waiting, "suspend/"))
    resumed = api.post(url(waiting, "resume/"))
    not_suspended = api.post(url(waiting, "resume/"))

    assert (suspended.status_code, suspended.json()["status"]) == (200, "suspended")
    assert again.status_code == 409
    assert (resumed.status_code, resumed.json()["status"]) == (200, "pending")
    assert not_suspended.status_code == 409
    assert "not suspended" in not_suspended.json()["detail"]
    assert audit("suspend") == [("operator", "look first")]


def test_restart_a_finished_instance_is_202_like_a_start(api, durable, finished):
    response = api.post(url(finished, "restart/"))

    assert response.status_code == 202
    assert response["Location"] == f"http://testserver{url(finished)}"
    assert response.json()["id"] == finished
    state = durable.get_status(finished)
    assert (state.status, state.input) == ("pending", 3)


def test_restart_keeps_the_reason_in_the_audit_log(api, finished):
    from workflows.models import AuditEntry

    response = api.post(url(finished, "restart/"), {"reason": "rerun after the fix"}, format="json")

    assert response.status_code == 202
    entry = AuditEntry.objects.get(action="restart", instance_ref=finished)
    assert entry.note == "rerun after the fix"


def test_restart_an_active_instance_is_409(api, waiting):
    response = api.post(url(waiting, "restart/"))

    assert response.status_code == 409
    assert response.json()["error"] == "invalid_state"


def test_purge_a_finished_instance_is_204_then_404(api, finished):
    response = api.delete(url(finished))

    assert response.status_code == 204
    assert api.get(url(finished)).status_code == 404
    assert instance_count() == 0


def test_purge_an_active_instance_is_409_and_keeps_it(api, waiting):
    response = api.delete(url(waiting))

    assert response.status_code == 409
    assert "Terminate it first" in response.json()["detail"]
    assert instance_count() == 1


@pytest.mark.parametrize("operation", ["terminate", "suspend", "resume", "rewind", "restart"])
def test_unknown_instance_is_404(api, operation):
    assert api.post(url("nobody", f"{operation}/")).status_code == 404


@pytest.mark.parametrize("body", [{"reason": 5}, {"reason": "x" * 1001}, {"why": "typo"}])
def test_a_bad_reason_is_400_and_changes_nothing(api, durable, waiting, body):
    response = api.post(url(waiting, "terminate/"), body, format="json")

    assert response.status_code == 400
    assert durable.get_status(waiting).status == "pending"


def test_rewind_refuses_an_instance_that_did_not_fail(api, waiting, finished):
    active = api.post(url(waiting, "rewind/"))
    terminated = api.post(url(finished, "rewind/"))

    assert active.status_code == 409
    assert "only a failed instance can be rewound" in active.json()["detail"]
    assert terminated.status_code == 409


@pytest.mark.integration
def test_rewind_runs_the_failed_step_again(api, durable, worker):
    iid = durable.start("t_non_retryable", None, instance_id="broken-1")
    assert durable.wait_for_completion(iid, timeout=30).status == "failed"
    failures_before = kinds(api, iid).count("activity_failed")

    response = api.post(url(iid, "rewind/"), {"reason": "fixed the service"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] in ("pending", "running")
    assert durable.wait_for_completion(iid, timeout=30).status == "failed"  # t_broken never works
    assert kinds(api, iid).count("activity_failed") == failures_before
    assert kinds(api, iid).count("activity_scheduled") == 1
    assert audit("rewind") == [("operator", "fixed the service")]


def kinds(api, instance_id: str) -> list[str]:
    return [e["kind"] for e in api.get(url(instance_id), {"history": 1}).json()["history"]]
