"""GET /api/v1/instances/{id}/ (202 while active, 200 when finished) and its history."""

import pytest

from .support import url

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(make_api):
    """May see every instance (workflows.view_instance), not their payloads."""
    return make_api("view_instance", username="victor")


PAYLOADS = {"input", "output", "custom_status", "failure"}


def test_an_active_instance_answers_202_with_retry_after(api, waiting):
    response = api.get(url(waiting))

    assert response.status_code == 202
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["id"] == waiting
    assert body["status"] == "pending"
    assert body["name"] == "t_wait_event"
    assert body["business_key"] == "order-7"
    assert body["completed_at"] is None
    assert body["created_at"].endswith("Z")
    assert body["links"]["status"] == f"http://testserver{url(waiting)}"
    assert "history" not in body


def test_a_suspended_instance_is_still_202(api, durable, waiting):
    durable.suspend(waiting)

    response = api.get(url(waiting))

    assert response.status_code == 202
    assert response.json()["status"] == "suspended"


def test_a_finished_instance_answers_200_without_retry_after(api, finished):
    response = api.get(url(finished))

    assert response.status_code == 200
    assert "Retry-After" not in response
    body = response.json()
    assert body["status"] == "terminated"
    assert body["completed_at"] is not None
    assert body["input"] == 3
    assert body["failure"]["message"] == "test over"
    assert body["payloads_visible"] is True


def test_payloads_are_hidden_without_view_payloads(viewer, finished):
    body = viewer.get(url(finished)).json()

    assert body["status"] == "terminated"
    assert body["payloads_visible"] is False
    assert not PAYLOADS & set(body)


def test_history_on_request(api, viewer, finished):
    with_history = api.get(url(finished), {"history": "1"}).json()
    hidden = viewer.get(url(finished), {"history": "true"}).json()

    assert [e["kind"] for e in with_history["history"]][-1] == "execution_terminated"
    assert "payload" in with_history["history"][-1]
    assert "payload" not in hidden["history"][-1]
    assert "history" not in api.get(url(finished), {"history": "0"}).json()


def test_unknown_instance_is_404(api):
    response = api.get(url("nobody-here"))

    assert response.status_code == 404
    assert response.json() == {
        "error": "instance_not_found",
        "detail": "No instance 'nobody-here' exists (in this task hub).",
    }


@pytest.mark.parametrize("bad_id", ["-starts-with-dash", "has space", "x" * 201, "nl%0A"])
def test_a_malformed_id_is_400(api, bad_id):
    response = api.get(url(bad_id))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"
    assert "Invalid instance id" in response.json()["detail"]


@pytest.mark.parametrize("flag", ["yes", "", "2"])
def test_a_bad_history_flag_is_400(api, waiting, flag):
    response = api.get(url(waiting), {"history": flag})

    assert response.status_code == 400
    assert response.json()["detail"].startswith("history:")


def test_history_endpoint_is_a_page(api, viewer, finished):
    body = api.get(url(finished, "history/")).json()

    assert body["next_cursor"] is None
    assert body["next"] is None
    assert body["results"][-1]["kind"] == "execution_terminated"
    assert "payload" in body["results"][-1]
    assert "payload" not in viewer.get(url(finished, "history/")).json()["results"][-1]


@pytest.mark.parametrize(
    "query", [{"cursor": "abc"}, {"cursor": "-1"}, {"cursor": "9" * 30}, {"limit": "0"}]
)
def test_history_rejects_bad_paging(api, finished, query):
    response = api.get(url(finished, "history/"), query)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(next(iter(query)))


def test_history_of_unknown_instance_is_404(api):
    assert api.get(url("nobody", "history/")).status_code == 404
