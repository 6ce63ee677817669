"""/api/v1/compensations/: operators list saga undo steps and decide failed ones."""

from __future__ import annotations

import pytest

from tests.support import ui_workflows  # noqa: F401 - registers ui_order
from workflows.conf import conf

pytestmark = pytest.mark.django_db

COMPENSATIONS = "/api/v1/compensations/"


def url(record_id, suffix: str = "") -> str:
    return f"{COMPENSATIONS}{record_id}/{suffix}"


@pytest.fixture
def failed(durable):
    """``failed("order-1")``: a compensation that failed for good on a running ui_order
    instance, without a worker (the rows a worker would write)."""
    from workflows.models import CompensationRecord, Instance

    def make(instance_id: str = "order-1", status: str = "failed", instance_status="running"):
        durable.start("ui_order", {"id": 1}, instance_id=instance_id)
        Instance.objects.filter(instance_id=instance_id).update(
            status=instance_status,
            needs_attention=True,
            attention_reason="compensation release reservation (ui_fail) failed: boom",
        )
        instance = Instance.objects.get(instance_id=instance_id)
        return CompensationRecord.objects.create(
            instance=instance,
            execution_id=instance.execution_id,
            task_id=2,
            compensation_id=f"{instance_id}:{instance.execution_id}:comp:2",
            step="release reservation",
            activity="ui_fail",
            input="the warehouse",
            order=1,
            status=status,
            attempts=1,
            last_error={"type": "NonRetryableError", "message": "the warehouse is down"},
        )

    return make


@pytest.fixture
def operator(make_api):
    """operate_instance, without view_payloads."""
    return make_api("operate_instance", username="olga")


# -- listing and reading ----------------------------------------------------------------------


def test_operators_list_compensations_without_payloads(operator, failed):
    record = failed()

    response = operator.get(COMPENSATIONS)

    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == record.pk
    assert (item["instance_id"], item["workflow"]) == ("order-1", "ui_order")
    assert (item["step"], item["activity"], item["order"]) == ("release reservation", "ui_fail", 1)
    assert (item["status"], item["attempts"]) == ("failed", 1)
    assert item["compensation_id"] == record.compensation_id
    assert (item["resolution"], item["resolution_note"], item["resolved_by"]) == ("", "", None)
    assert item["url"].endswith(url(record.pk))
    assert item["instance"].endswith("/api/v1/instances/order-1/")
    assert "last_error" not in item and "input" not in item


def test_last_error_needs_view_payloads(make_api, failed):
    record = failed()

    item = make_api("operate_instance", "view_payloads").get(url(record.pk)).json()

    assert item["last_error"]["message"] == "the warehouse is down"
    assert item["input"] == "the warehouse"


@pytest.mark.parametrize("held", [(), ("view_payloads",), ("start_instance", "raise_event")])
def test_every_call_needs_operate_instance(make_api, failed, held):
    record = failed()
    api = make_api(*held)

    calls = [
        api.get(COMPENSATIONS),
        api.get(url(record.pk)),
        api.post(url(record.pk, "retry/"), {}, format="json"),
        api.post(url(record.pk, "resolve/"), {"note": "done"}, format="json"),
        api.post(url(record.pk, "skip/"), {"note": "done"}, format="json"),
    ]

    assert [c.status_code for c in calls] == [403] * 5
    assert "workflows.operate_instance" in calls[0].json()["detail"]
    assert make_api(superuser=True).get(url(record.pk)).json()["status"] == "failed"


def test_anonymous_callers_get_401(failed):
    from rest_framework.test import APIClient

    record = failed()
    client = APIClient()

    assert client.get(COMPENSATIONS).status_code == 401
    assert client.get(url(record.pk)).status_code == 401
    assert client.post(url(record.pk, "skip/"), {"note": "x"}, format="json").status_code == 401


def test_filters_and_pages(operator, failed):
    first = failed("order-1")
    second = failed("order-2", status="compensated")
    third = failed("order-3")

    failed_only = operator.get(COMPENSATIONS, {"status": "failed"}).json()["results"]
    by_instance = operator.get(COMPENSATIONS, {"instance": "order-2"}).json()["results"]
    page1 = operator.get(COMPENSATIONS, {"limit": 2}).json()
    page2 = operator.get(page1["next"]).json()

    assert [r["id"] for r in failed_only] == [third.pk, first.pk]
    assert [r["id"] for r in by_instance] == [second.pk]
    assert [r["id"] for r in page1["results"]] == [third.pk, second.pk]
    assert [r["id"] for r in page2["results"]] == [first.pk]
    assert page2["next"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [({"status": "broken"}, "status"), ({"instance": "-x"}, "instance"), ({"limit": "x"}, "limit")],
)
def test_bad_filters_are_400_naming_the_parameter(operator, query, field):
    response = operator.get(COMPENSATIONS, query)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_an_unknown_record_is_404_and_a_bad_id_400(operator):
    assert operator.get(url(987654)).status_code == 404
    assert operator.get(url(987654)).json()["detail"] == "No compensation record 987654 exists."
    assert operator.get(url("x1")).status_code == 400
    for action in ("retry", "resolve", "skip"):
        response = operator.post(url(987654, f"{action}/"), {"note": "n"}, format="json")
        assert response.status_code == 404, action


# -- decisions ----------------------------------------------------------------------------------


def test_resolve_records_the_operator_and_the_note(operator, failed):
    from workflows.models import AuditEntry

    record = failed()

    response = operator.post(
        url(record.pk, "resolve/"), {"note": "released in the WMS"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["resolution"]) == ("resolved_manually", "resolve")
    assert (body["resolved_by"], body["resolution_note"]) == ("olga", "released in the WMS")
    entry = AuditEntry.objects.get(action="compensation_resolve")
    assert (entry.actor, entry.note) == ("olga", "released in the WMS")


def test_skip(operator, failed):
    record = failed()

    response = operator.post(url(record.pk, "skip/"), {"note": "nothing to release"}, format="json")

    assert (response.status_code, response.json()["status"]) == (200, "skipped")


@pytest.mark.parametrize("body", [None, {}, {"note": ""}])
def test_retry_needs_no_note(operator, failed, body):
    record = failed()

    response = operator.post(url(record.pk, "retry/"), body, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["resolved_by"]) == ("compensating", "olga")


@pytest.mark.parametrize("action", ["resolve", "skip"])
@pytest.mark.parametrize("body", [None, {}, {"note": ""}, {"note": "   "}, {"note": 3}])
def test_resolve_and_skip_need_a_note(operator, failed, action, body):
    record = failed()

    response = operator.post(url(record.pk, f"{action}/"), body, format="json")

    assert response.status_code == 400
    assert "note" in response.json()["fields"]
    assert operator.get(url(record.pk)).json()["status"] == "failed"


@pytest.mark.parametrize("body", [{"note": "x", "reason": "y"}, {"note": "a\x00b"}])
def test_other_bad_bodies_are_400(operator, failed, body):
    record = failed()

    assert operator.post(url(record.pk, "resolve/"), body, format="json").status_code == 400


def test_a_compensation_that_has_not_failed_is_409(operator, failed):
    record = failed(status="compensated")

    response = operator.post(url(record.pk, "skip/"), {"note": "why not"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "invalid_state"
    assert "not failed" in response.json()["detail"]


def test_deciding_twice_is_409_the_second_time(operator, failed):
    record = failed()
    operator.post(url(record.pk, "resolve/"), {"note": "done"}, format="json")

    again = operator.post(url(record.pk, "retry/"), {}, format="json")

    assert again.status_code == 409
    assert "resolved_manually" in again.json()["detail"]


def test_a_workflow_that_no_longer_waits_is_409(operator, failed):
    record = failed(instance_status="terminated")

    response = operator.post(url(record.pk, "resolve/"), {"note": "done"}, format="json")

    assert response.status_code == 409
    assert "no longer waits" in response.json()["detail"]


# -- with a worker: a real saga whose undo fails ------------------------------------------------


def _failed_record(api, instance_id: str, attempts: int = 1):
    from tests.support.checks import wait_until

    def find():
        rows = api.get(COMPENSATIONS, {"instance": instance_id, "status": "failed"}).json()
        return [r for r in rows["results"] if r["attempts"] >= attempts]

    return wait_until(find, what=f"a failed compensation of {instance_id}")[0]


@pytest.mark.integration
def test_retry_then_skip_through_the_api_finishes_the_saga(worker, make_api, durable):
    from tests.support.brokers import purge_queues

    purge_queues(conf.TASK_HUB)
    api = make_api("operate_instance", "view_payloads", username="olga")
    durable.start("ui_order", {"id": 7}, instance_id="order-7")
    record = _failed_record(api, "order-7")
    assert record["last_error"]["message"] == "the warehouse is down"

    retried = api.post(record["url"] + "retry/", {"note": "try again"}, format="json")
    assert (retried.status_code, retried.json()["status"]) == (200, "compensating")
    again = _failed_record(api, "order-7", attempts=2)  # the undo fails again
    skipped = api.post(again["url"] + "skip/", {"note": "nothing to release"}, format="json")

    assert (skipped.status_code, skipped.json()["status"]) == (200, "skipped")
    state = durable.wait_for_completion("order-7", timeout=30)
    assert state.status == "completed"
    assert state.output == {"charged": False, "compensations": ["skipped"]}


@pytest.mark.integration
def test_resolve_through_the_api_finishes_the_saga(worker, make_api, durable):
    from tests.support.brokers import purge_queues

    purge_queues(conf.TASK_HUB)
    api = make_api("operate_instance", username="olga")
    durable.start("ui_order", {"id": 8}, instance_id="order-8")
    record = _failed_record(api, "order-8")

    resolved = api.post(record["url"] + "resolve/", {"note": "by hand"}, format="json")

    assert (resolved.status_code, resolved.json()["resolved_by"]) == (200, "olga")
    state = durable.wait_for_completion("order-8", timeout=30)
    assert state.output == {"charged": False, "compensations": ["resolved_manually"]}
    assert not durable.get_status("order-8").needs_attention
