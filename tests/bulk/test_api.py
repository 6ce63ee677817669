"""/api/v1/bulk-operations/: start (202 + Location), dry run, progress (202 then 200),
outcomes in pages, cancel; every refusal a 4xx naming what was wrong, changing nothing."""

from __future__ import annotations

import pytest

from workflows.models import BulkOperation, Instance

pytestmark = pytest.mark.django_db

BULK = "/api/v1/bulk-operations/"


def test_start_poll_and_read_the_outcomes(api, client, make_instances, run_all):
    make_instances(5, "running", prefix="run")
    make_instances(2, "completed", prefix="done")

    response = api.post(
        BULK,
        {"action": "terminate", "filter": {"name": "t_wait_event"}, "reason": "INC-3"},
        format="json",
    )

    assert response.status_code == 202, response.content
    body = response.json()
    location = response["Location"]
    assert location.endswith(f"{BULK}{body['id']}/") and response["Retry-After"]
    assert body["counts"] == {
        "matched": 7,
        "done": 0,
        "skipped": 0,
        "failed": 0,
        "cancelled": 0,
        "pending": 7,
    }
    assert (body["status"], body["created_by"], body["reason"]) == ("running", "olga", "INC-3")
    assert body["filter"] == {"name": "t_wait_event"}
    assert api.get(location).status_code == 202  # running: poll again

    run_all(body["id"])
    done = api.get(location)
    assert done.status_code == 200
    assert done.json()["counts"]["done"] == 5 and done.json()["counts"]["skipped"] == 2
    assert done.json()["percent"] == 100

    outcomes = api.get(f"{location}outcomes/", {"limit": 4}).json()
    assert [o["status"] for o in outcomes["results"]] == ["done"] * 4
    rest = api.get(outcomes["next"]).json()
    assert [o["target"] for o in rest["results"]] == ["run-00004", "done-00000", "done-00001"]
    skipped = api.get(f"{location}outcomes/", {"status": "skipped"}).json()["results"]
    assert "already finished (completed)" in skipped[0]["reason"]
    listed = api.get(BULK).json()["results"]
    assert [op["id"] for op in listed] == [body["id"]]


def test_a_dry_run_answers_the_count_and_changes_nothing(api, make_instances):
    make_instances(3, "running")
    make_instances(1, "failed", prefix="f")

    response = api.post(BULK, {"action": "rewind", "filter": {}, "dry_run": True}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["dry_run"], body["matched"], body["allowed"]) == (True, 4, 1)
    assert body["by_status"] == {"running": 3, "failed": 1}
    assert len(body["sample"]) == 4
    assert not BulkOperation.objects.exists()


def test_listed_ids_and_cancel(api, make_instances):
    ids = make_instances(3, "running")

    started = api.post(
        BULK, {"action": "suspend", "instance_ids": ids, "reason": "r"}, format="json"
    ).json()
    cancel = f"{BULK}{started['id']}/cancel/"
    cancelled = api.post(cancel, {"reason": "wrong ones"}, format="json")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["counts"]["cancelled"] == 3
    assert api.get(f"{BULK}{started['id']}/").status_code == 200
    again = api.post(cancel, {}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "invalid_state"
    assert Instance.objects.filter(status="running").count() == 3


def test_raise_event_data_needs_view_payloads_to_be_shown(api_as, make_instances):
    make_instances(1, "running")
    sender = api_as("rae", "operate_instance", "raise_event")

    body = sender.post(
        BULK,
        {
            "action": "raise_event",
            "filter": {},
            "reason": "r",
            "event_name": "approve",
            "event_data": {"card": "4111"},
        },
        format="json",
    ).json()

    assert body["event_name"] == "approve" and "event_data" not in body


BAD = [
    ({"action": "explode", "filter": {}, "reason": "r"}, "action"),
    ({"action": "terminate", "filter": {"colour": "red"}, "reason": "r"}, "filter.colour"),
    ({"action": "terminate", "filter": {"status": ["asleep"]}, "reason": "r"}, "filter.status"),
    ({"action": "terminate", "reason": "r"}, "needs either a filter or instance_ids"),
    ({"action": "terminate", "filter": {}, "instance_ids": ["a"], "reason": "r"}, "exactly one"),
    ({"action": "terminate", "instance_ids": ["a b"], "reason": "r"}, "instance_ids"),
    ({"action": "terminate", "filter": {}}, "A reason is required"),
    ({"action": "terminate", "filter": {}, "reason": "x" * 1001}, "at most 1000"),
    ({"action": "terminate", "filter": {}, "reason": "r", "dry_run": "yes"}, "dry_run"),
    ({"action": "terminate", "filter": {}, "reason": "r", "imput": 1}, "imput"),
    ({"action": "raise_event", "filter": {}, "reason": "r"}, "needs event_name"),
    ({"action": "compensation_skip", "instance_ids": ["a"], "reason": "r"}, "other kind"),
]


@pytest.mark.parametrize(("body", "named"), BAD, ids=[n for _b, n in BAD])
def test_bad_requests_are_400_naming_what_was_wrong(api, make_instances, body, named):
    make_instances(2, "running")

    response = api.post(BULK, body, format="json")

    assert response.status_code == 400, response.content
    assert named in response.json()["detail"] or named in str(response.json().get("fields"))
    assert not BulkOperation.objects.exists()
    assert Instance.objects.filter(status="running").count() == 2


def test_unknown_and_malformed_operation_ids(api):
    assert api.get(f"{BULK}12345/").status_code == 404
    assert api.get(f"{BULK}12345/").json()["error"] == "bulk_operation_not_found"
    assert api.get(f"{BULK}abc/").status_code == 400
    assert api.post(f"{BULK}0/cancel/", {}, format="json").status_code == 400
    assert api.get(f"{BULK}12345/outcomes/", {"status": "great"}).status_code == 400


def test_every_call_needs_operate_instance(api, api_as, make_instances):
    from rest_framework.test import APIClient

    make_instances(1, "running")
    op = api.post(BULK, {"action": "suspend", "filter": {}, "reason": "r"}, format="json").json()
    viewer = api_as("victor", "view_instance", "view_payloads", "raise_event")
    one = f"{BULK}{op['id']}/"
    calls = [
        ("get", BULK, None),
        ("post", BULK, {"action": "terminate", "filter": {}, "reason": "r"}),
        ("post", BULK, {"action": "terminate", "filter": {}, "dry_run": True}),
        ("get", one, None),
        ("get", f"{one}outcomes/", None),
        ("post", f"{one}cancel/", {}),
    ]
    for method, path, body in calls:
        refused = getattr(viewer, method)(path, body, format="json")
        assert refused.status_code == 403, (method, path)
        assert "operate_instance" in refused.json()["detail"]
        assert getattr(APIClient(), method)(path, body, format="json").status_code == 401
    assert BulkOperation.objects.get().status == "running"


def test_a_bulk_raise_event_also_needs_raise_event(api_as, make_instances):
    make_instances(1, "running")
    operator = api_as("oscar", "operate_instance")

    response = operator.post(
        BULK,
        {"action": "raise_event", "filter": {}, "reason": "r", "event_name": "go"},
        format="json",
    )

    assert response.status_code == 403
    assert "workflows.raise_event" in response.json()["detail"]
