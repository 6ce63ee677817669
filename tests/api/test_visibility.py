"""Who reads which instance through the API, and what without view_payloads.

Reads follow the console's rule (workflows.view_instance, or operate_instance); anybody
else sees only instances that ask one of their groups for a decision. Without
workflows.view_payloads no input, output, failure text, custom status or event data shows,
not even inside ``attention_reason``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from .support import url

pytestmark = pytest.mark.django_db

LIST = "/api/v1/instances/"
SECRETS = ("4111-secret", "cs-secret", "boom-secret", "fail-secret", "data-secret", "why-secret")


@pytest.fixture
def viewer(make_api):
    """workflows.view_instance only."""
    return make_api("view_instance", username="victor")


@pytest.fixture
def approver(make_api):
    """Member of "managers", no permission."""
    from django.contrib.auth.models import Group

    api = make_api(username="mia")
    api.user.groups.add(Group.objects.get_or_create(name="managers")[0])
    return api


@pytest.fixture
def secret(durable) -> str:
    """A failed instance whose every payload holds a secret, flagged for attention."""
    from workflows.models import HistoryEvent, Instance

    iid = durable.start("t_chain", {"card": "4111-secret"}, instance_id="secret-1")
    failure = {"type": "ValueError", "message": "fail-secret", "traceback": "fail-secret"}
    Instance.objects.filter(instance_id=iid).update(
        status="failed",
        failure=failure,
        output="4111-secret",
        custom_status={"note": "cs-secret", "completed": 1, "total": 2},
        needs_attention=True,
        attention_reason="compensation refund (pay_back) failed: boom-secret; retry, resolve "
        "or skip it",
    )
    instance = Instance.objects.get(instance_id=iid)
    rows = [
        ("execution_started", {"name": "t_chain", "version": 1, "input": {"c": "4111-secret"}}),
        ("activity_scheduled", {"task_id": 1, "name": "t_add", "input": "4111-secret"}),
        ("activity_failed", {"task_id": 1, "failure": failure}),
        ("event_raised", {"name": "approve", "data": "data-secret", "event_id": "e-1"}),
        ("execution_terminated", {"reason": "why-secret"}),
    ]
    for seq, (kind, payload) in enumerate(rows, start=1):
        HistoryEvent.objects.create(
            instance=instance,
            execution_id=instance.execution_id,
            seq=seq,
            kind=kind,
            payload=payload,
            timestamp=timezone.now() + timedelta(seconds=seq),
        )
    return iid


def leaked(response) -> list[str]:
    body = response.content.decode()
    return [word for word in SECRETS if word in body]


# -- view_payloads -----------------------------------------------------------------------------


def test_the_status_shows_no_failure_text_custom_status_or_input_without_view_payloads(
    viewer, secret
):
    response = viewer.get(url(secret), {"history": "1"})

    assert response.status_code == 200
    assert leaked(response) == []
    body = response.json()
    assert body["needs_attention"] is True
    assert body["attention_reason"].startswith("A compensation failed for good")
    assert "workflows.view_payloads" in body["attention_reason"]
    assert [event["kind"] for event in body["history"]][-1] == "execution_terminated"


def test_history_and_list_show_no_payload_without_view_payloads(viewer, secret):
    history = viewer.get(url(secret, "history/"))
    listing = viewer.get(LIST, {"needs_attention": "1"})

    assert history.status_code == listing.status_code == 200
    assert leaked(history) == leaked(listing) == []
    assert [item["id"] for item in listing.json()["results"]] == [secret]


def test_an_operation_answers_with_the_same_redacted_view(make_api, durable, waiting):
    from workflows.models import Instance

    Instance.objects.filter(instance_id=waiting).update(custom_status="cs-secret")
    operator = make_api("operate_instance")

    response = operator.post(url(waiting, "suspend/"), {}, format="json")

    assert response.status_code == 200
    assert "cs-secret" not in response.content.decode()


def test_view_payloads_shows_them_all(make_api, secret):
    response = make_api("view_instance", "view_payloads").get(url(secret), {"history": "1"})

    assert set(leaked(response)) == set(SECRETS)
    assert "boom-secret" in response.json()["attention_reason"]


# -- view_instance -----------------------------------------------------------------------------


@pytest.fixture
def claim(durable) -> str:
    """A running instance with a pending request of group "managers"."""
    from workflows.models import ApprovalRequest, Instance

    iid = durable.start("t_wait_event", None, instance_id="claim-1", business_key="EXP-1")
    Instance.objects.filter(instance_id=iid).update(status="running")
    instance = Instance.objects.get(instance_id=iid)
    ApprovalRequest.objects.create(
        instance=instance,
        execution_id=instance.execution_id,
        task_id=3,
        request_id=f"{iid}:{instance.execution_id}:3",
        name="expense",
        assignees="managers",
        deadline=timezone.now() + timedelta(hours=2),
    )
    return iid


def test_without_view_instance_the_list_holds_only_the_callers_approvals(
    approver, reader, viewer, claim, waiting, finished
):
    def listed(api) -> list[str]:
        response = api.get(LIST)
        assert response.status_code == 200
        return sorted(item["id"] for item in response.json()["results"])

    assert listed(approver) == [claim]
    assert listed(reader) == []
    assert listed(viewer) == sorted([claim, waiting, finished])
    assert "order-7" not in approver.get(LIST, {"business_key": "order-7"}).content.decode()


def test_without_view_instance_status_and_history_are_403_except_the_callers_approvals(
    approver, reader, claim, waiting
):
    for path in (url(waiting), url(waiting, "history/")):
        refused = approver.get(path)
        assert refused.status_code == 403, path
        assert refused.json()["error"] == "not_allowed"
        assert "workflows.view_instance" in refused.json()["detail"]
        assert reader.get(path).status_code == 403
    assert approver.get(url(claim)).status_code == 202
    assert approver.get(url(claim, "history/")).status_code == 200
    assert reader.get(url(claim)).status_code == 403


def test_an_unknown_id_is_403_to_those_who_may_not_look_and_404_to_viewers(approver, viewer, db):
    """A 404 would tell an approver which ids exist."""
    assert approver.get(url("nobody-here")).status_code == 403
    assert viewer.get(url("nobody-here")).status_code == 404


def test_operate_instance_sees_instances_like_the_console(make_api, waiting):
    operator = make_api("operate_instance")

    assert operator.get(url(waiting)).status_code == 202
    assert [item["id"] for item in operator.get(LIST).json()["results"]] == [waiting]
