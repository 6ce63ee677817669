"""/api/v1/approvals/: the caller's requests, and decisions by the assignees only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support import ui_workflows  # noqa: F401 - registers ui_expense
from workflows.conf import conf
from workflows.models import ApprovalRequest, AuditEntry

pytestmark = pytest.mark.django_db

APPROVALS = "/api/v1/approvals/"


def url(approval_id, suffix: str = "") -> str:
    return f"{APPROVALS}{approval_id}/{suffix}"


def join(api, *groups: str):
    from django.contrib.auth.models import Group

    for name in groups:
        api.user.groups.add(Group.objects.get_or_create(name=name)[0])
    return api


@pytest.fixture
def request_for(durable):
    """``request_for("claim-1", group="managers")``: a pending approval request on a running
    ui_expense instance, without a worker (the rows a worker would write)."""
    from workflows.models import ApprovalRequest, Instance

    def make(instance_id: str = "claim-1", group: str = "managers", **fields):
        durable.start("ui_expense", {"amount": 1}, instance_id=instance_id)
        Instance.objects.filter(instance_id=instance_id).update(status="running")
        instance = Instance.objects.get(instance_id=instance_id)
        values = {
            "name": "expense",
            "details": {"amount": 120, "purpose": "train tickets"},
            "deadline": timezone.now() + timedelta(hours=2),
            **fields,
        }
        return ApprovalRequest.objects.create(
            instance=instance,
            execution_id=instance.execution_id,
            task_id=3,
            request_id=f"{instance_id}:{instance.execution_id}:3",
            assignees=group,
            **values,
        )

    return make


@pytest.fixture
def manager(make_api):
    """Signed in, member of "managers", no permission at all."""
    return join(make_api(username="mia"), "managers")


@pytest.fixture
def outsider(make_api):
    return join(make_api(username="otto"), "clerks")


# -- listing ----------------------------------------------------------------------------------


def test_the_list_shows_the_requests_of_the_callers_groups(manager, outsider, request_for):
    mine = request_for("claim-1")
    request_for("claim-2", group="directors")

    found = manager.get(APPROVALS)
    nothing = outsider.get(APPROVALS)

    assert found.status_code == 200
    [item] = found.json()["results"]
    assert item["id"] == mine.pk
    assert item["instance_id"] == "claim-1"
    assert item["workflow"] == "ui_expense"
    assert item["assignees"] == "managers"
    assert item["assigned_to_you"] is True
    assert item["details"] == {"amount": 120, "purpose": "train tickets"}
    assert item["status"] == "pending"
    assert item["decided_by"] is None
    assert item["url"].endswith(url(mine.pk))
    assert item["decision"].endswith(url(mine.pk, "decision/"))
    assert item["instance"].endswith("/api/v1/instances/claim-1/")
    assert found.json()["next"] is None
    assert nothing.json()["results"] == []


def test_a_superuser_sees_every_request(make_api, request_for):
    request_for("claim-1")
    request_for("claim-2", group="directors")

    results = make_api(superuser=True).get(APPROVALS).json()["results"]

    assert [r["instance_id"] for r in results] == ["claim-2", "claim-1"]  # newest first
    assert all(r["assigned_to_you"] and "details" in r for r in results)


def test_filters_by_instance_and_status(manager, request_for):
    request_for("claim-1")
    request_for("claim-2", status="approved")

    by_instance = manager.get(APPROVALS, {"instance": "claim-2"}).json()["results"]
    pending = manager.get(APPROVALS, {"status": "pending"}).json()["results"]
    expired = manager.get(APPROVALS, {"status": "expired"}).json()["results"]

    assert [r["instance_id"] for r in by_instance] == ["claim-2"]
    assert [r["instance_id"] for r in pending] == ["claim-1"]
    assert expired == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": ""}, "status"),
        ({"instance": "bad id!"}, "instance"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "abc"}, "cursor"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(manager, query, field):
    response = manager.get(APPROVALS, query)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"
    assert list(response.json()["fields"]) == [field]
    assert response.json()["detail"].startswith(f"{field}: ")


def test_pages_follow_the_cursor_newest_first(manager, request_for):
    ids = [request_for(f"claim-{n}").pk for n in range(3)]

    first = manager.get(APPROVALS, {"limit": 2}).json()
    second = manager.get(first["next"]).json()

    assert [r["id"] for r in first["results"]] == ids[:0:-1]
    assert [r["id"] for r in second["results"]] == ids[:1]
    assert second["next_cursor"] is None and second["next"] is None


# -- one request --------------------------------------------------------------------------------


def test_an_assignee_reads_a_request_with_its_details(manager, request_for):
    approval = request_for()

    response = manager.get(url(approval.pk))

    assert response.status_code == 200
    assert response.json()["id"] == approval.pk
    assert response.json()["details"]["purpose"] == "train tickets"


def test_viewers_read_any_request_but_details_need_view_payloads(make_api, request_for):
    approval = request_for()

    operator = make_api("operate_instance").get(url(approval.pk))
    viewer = make_api("view_instance").get(url(approval.pk))
    payloads = make_api("view_instance", "view_payloads").get(url(approval.pk))

    assert operator.status_code == viewer.status_code == 200
    assert "details" not in operator.json() and "details" not in viewer.json()
    assert operator.json()["assigned_to_you"] is False
    assert payloads.json()["details"]["amount"] == 120


def test_view_payloads_alone_does_not_show_other_groups_requests(make_api, request_for):
    """A request names its instance and business key: seeing it is seeing the instance."""
    response = make_api("view_payloads").get(url(request_for().pk))

    assert response.status_code == 403
    assert "workflows.view_instance" in response.json()["detail"]


def test_others_may_not_read_a_request(outsider, request_for):
    response = outsider.get(url(request_for().pk))

    assert response.status_code == 403
    assert "managers" in response.json()["detail"]


def test_an_unknown_request_is_404_and_a_bad_id_400(manager):
    missing = manager.get(url(999999))
    bad = manager.get(url("abc"))
    zero = manager.get(url("0"))

    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "No approval request 999999 exists."}
    assert (bad.status_code, zero.status_code) == (400, 400)
    assert "approval id" in bad.json()["detail"]


# -- deciding -----------------------------------------------------------------------------------


def test_an_assignee_approves_and_the_decision_is_audited(manager, request_for):
    from workflows.models import AuditEntry

    approval = request_for()

    response = manager.post(
        url(approval.pk, "decision/"), {"approve": True, "comment": "fine"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["approval_id"] == approval.pk
    assert (body["status"], body["decided_by"], body["comment"]) == ("approved", "mia", "fine")
    assert body["first"] is True and body["decided_at"]
    entry = AuditEntry.objects.get(action="decide")
    assert (entry.actor, entry.note) == ("mia", "fine")
    assert manager.get(url(approval.pk)).json()["status"] == "approved"


def test_a_second_decision_answers_with_the_first(manager, make_api, request_for):
    approval = request_for()
    other = join(make_api(username="max"), "managers")
    manager.post(url(approval.pk, "decision/"), {"approve": False}, format="json")

    again = other.post(url(approval.pk, "decision/"), {"approve": True}, format="json")

    assert again.status_code == 200
    assert again.json()["first"] is False
    assert (again.json()["status"], again.json()["decided_by"]) == ("rejected", "mia")


def test_a_non_member_gets_403_even_with_every_permission(make_api, request_for):
    from .support import CODENAMES

    approval = request_for()
    operator = join(make_api(*CODENAMES, username="olga"), "clerks")

    response = operator.post(url(approval.pk, "decision/"), {"approve": True}, format="json")

    assert response.status_code == 403
    assert response.json()["error"] == "not_allowed"
    assert "not in group 'managers'" in response.json()["detail"]
    assert operator.get(url(approval.pk)).json()["status"] == "pending"


def test_a_superuser_may_decide(make_api, request_for):
    approval = request_for()

    response = make_api(superuser=True).post(
        url(approval.pk, "decision/"), {"approve": True}, format="json"
    )

    assert (response.status_code, response.json()["status"]) == (200, "approved")


def test_an_expired_request_is_409(manager, request_for):
    approval = request_for(deadline=timezone.now() - timedelta(minutes=1))

    response = manager.post(url(approval.pk, "decision/"), {"approve": True}, format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "invalid_state"
    assert "expired at" in response.json()["detail"]
    assert manager.get(url(approval.pk)).json()["status"] == "pending"


def test_a_request_of_a_finished_workflow_is_409(manager, durable, request_for):
    approval = request_for()
    durable.terminate("claim-1", "withdrawn")

    response = manager.post(url(approval.pk, "decision/"), {"approve": True}, format="json")

    assert response.status_code == 409
    assert "already finished" in response.json()["detail"]


def test_deciding_an_unknown_request_is_404(manager):
    response = manager.post(url(424242, "decision/"), {"approve": True}, format="json")

    assert response.status_code == 404
    assert "424242" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "approve"),
        ({"approve": "yes"}, "approve"),
        ({"approve": 1}, "approve"),
        ({"approve": None}, "approve"),
        ({"approve": True, "comment": 5}, "comment"),
        ({"approve": True, "comment": "x" * 4001}, "comment"),
        ({"approve": True, "comment": "nul\x00"}, "comment"),
        ({"approve": True, "note": "typo"}, "note"),
    ],
)
def test_a_bad_body_is_400_and_changes_nothing(manager, request_for, body, field):
    approval = request_for()

    response = manager.post(url(approval.pk, "decision/"), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert manager.get(url(approval.pk)).json()["status"] == "pending"


def test_a_body_that_is_not_json_is_400_or_415(manager, request_for):
    approval = request_for()

    malformed = manager.post(url(approval.pk, "decision/"), "{", content_type="application/json")
    form = manager.post(url(approval.pk, "decision/"), {"approve": "true"})

    assert malformed.status_code == 400
    assert form.status_code == 415


@pytest.mark.parametrize("suffix", ["", "decision/"])
def test_anonymous_callers_get_401(request_for, suffix):
    from rest_framework.test import APIClient

    approval = request_for()
    client = APIClient()
    call = client.post if suffix else client.get

    assert client.get(APPROVALS).status_code == 401
    assert call(url(approval.pk, suffix), {"approve": True}, format="json").status_code == 401


# -- with a worker: a real request decided through the API -----------------------------------


@pytest.mark.integration
def test_a_decision_through_the_api_completes_the_workflow(worker, make_api, durable):
    from tests.support.brokers import purge_queues
    from tests.support.checks import wait_until

    purge_queues(conf.TASK_HUB)
    manager = join(make_api(username="mia"), "managers")
    durable.start("ui_expense", {"amount": 80, "purpose": "taxi"}, instance_id="claim-9")
    item = wait_until(
        lambda: manager.get(APPROVALS, {"status": "pending"}).json()["results"],
        what="the approval request",
    )[0]
    assert (item["instance_id"], item["details"]) == ("claim-9", {"amount": 80, "purpose": "taxi"})

    response = manager.post(item["decision"], {"approve": True, "comment": "ok"}, format="json")

    assert (response.status_code, response.json()["first"]) == (200, True)
    state = durable.wait_for_completion("claim-9", timeout=30)
    assert state.status == "completed"
    assert state.output == {"outcome": "approved", "by": "mia"}
    late = manager.post(item["decision"], {"approve": False}, format="json")
    assert (late.status_code, late.json()["first"], late.json()["status"]) == (
        200,
        False,
        "approved",
    )


# -- title, summary, claims ------------------------------------------------------------------


@pytest.fixture
def mia_api(make_api):
    return join(make_api(username="mia"), "managers")


@pytest.fixture
def max_api(make_api):
    return join(make_api(username="max"), "managers")


@pytest.fixture
def vera(make_api):
    return make_api("view_instance", username="vera")


def test_title_summary_and_reason_required_are_in_the_answer(mia_api, vera, request_for):
    approval = request_for(title="Expense of Ann", summary={"Amount": 120}, reason_required=True)
    body = mia_api.get(url(approval.pk)).json()
    assert (body["title"], body["summary"], body["reason_required"]) == (
        "Expense of Ann",
        {"Amount": 120},
        True,
    )
    assert (body["claimed_by"], body["claimed_at"]) == (None, None)
    assert body["claim"].endswith(f"/approvals/{approval.pk}/claim/")
    seen = vera.get(url(approval.pk)).json()  # no payloads: no details, no summary
    assert seen["title"] == "Expense of Ann"
    assert "summary" not in seen and "details" not in seen


def test_claim_release_and_the_others_claim(mia_api, max_api, request_for):
    approval = request_for()
    claimed = mia_api.post(url(approval.pk, "claim/"))
    assert claimed.status_code == 200, claimed.content
    assert claimed.json()["claimed_by"] == "mia"
    assert mia_api.post(url(approval.pk, "claim/")).status_code == 200  # again: no change
    assert AuditEntry.objects.filter(action="claim").count() == 1

    taken = max_api.post(url(approval.pk, "claim/"))
    assert taken.status_code == 409
    assert "mia is already on 'expense'" in taken.json()["detail"]
    assert max_api.delete(url(approval.pk, "claim/")).json()["claimed_by"] == "mia"  # not theirs

    released = mia_api.delete(url(approval.pk, "claim/"))
    assert released.status_code == 200
    assert released.json()["claimed_by"] is None
    assert max_api.post(url(approval.pk, "claim/")).json()["claimed_by"] == "max"


def test_outsiders_missing_and_decided_requests_are_refused(make_api, mia_api, request_for):
    approval = request_for()
    outsider = join(make_api(username="otto"), "clerks")
    assert outsider.post(url(approval.pk, "claim/")).status_code == 403
    assert mia_api.post(url(999999, "claim/")).status_code == 404
    assert mia_api.post(url("x", "claim/")).status_code in (400, 404)
    ApprovalRequest.objects.filter(pk=approval.pk).update(status="approved")
    done = mia_api.post(url(approval.pk, "claim/"))
    assert done.status_code == 409
    assert "approved already" in done.json()["detail"]
    assert ApprovalRequest.objects.get(pk=approval.pk).claimed_by is None
