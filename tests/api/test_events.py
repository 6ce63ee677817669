"""POST /api/v1/instances/{id}/events/{event}/: 202, 200 duplicate, 404, 410."""

import pytest

from .support import url

pytestmark = pytest.mark.django_db


def event_url(instance_id: str, event: str = "approve") -> str:
    return url(instance_id, f"events/{event}/")


def test_delivered_is_202_and_records_the_sender(api, waiting):
    from workflows.models import ExternalEvent

    response = api.post(event_url(waiting), {"data": {"ok": True}}, format="json")

    assert response.status_code == 202
    assert response.json() == {
        "instance_id": waiting,
        "event": "approve",
        "event_id": None,
        "outcome": "delivered",
        "first_outcome": "delivered",
    }
    recorded = ExternalEvent.objects.get(instance__instance_id=waiting)
    assert (recorded.name, recorded.data, recorded.sender) == ("approve", {"ok": True}, "operator")


def test_an_empty_body_delivers_null_data(api, waiting):
    assert api.post(event_url(waiting)).status_code == 202


def test_a_repeated_event_id_is_200_with_the_first_outcome(api, waiting):
    first = api.post(event_url(waiting), {"event_id": "e-1", "data": 1}, format="json")
    again = api.post(event_url(waiting), {"event_id": "e-1", "data": 2}, format="json")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["first_outcome"] == "delivered"


def test_a_repeat_after_the_instance_finished_is_still_200(api, durable, waiting):
    api.post(event_url(waiting), {"event_id": "e-1"}, format="json")
    durable.terminate(waiting)

    assert api.post(event_url(waiting), {"event_id": "e-1"}, format="json").status_code == 200


def test_unknown_instance_is_404(api):
    response = api.post(event_url("nobody"), {"data": 1}, format="json")

    assert response.status_code == 404
    assert response.json()["error"] == "instance_not_found"


def test_a_finished_instance_is_410_saying_so(api, finished):
    from workflows.models import ExternalEvent

    response = api.post(event_url(finished), {"data": 1}, format="json")

    assert response.status_code == 410
    body = response.json()
    assert body["error"] == "instance_finished"
    assert "already finished (terminated)" in body["detail"]
    assert not ExternalEvent.objects.exists()


@pytest.mark.parametrize(
    ("event", "body", "words"),
    [
        ("bad name!", {}, "Invalid event name"),
        ("approve", {"event_id": "bad id"}, "event_id"),
        ("approve", {"event_id": 7}, "event_id"),
        ("approve", {"data": "nul\u0000"}, "NUL"),
        ("approve", {"payload": 1}, "Unknown field"),
    ],
)
def test_bad_requests_are_400_and_deliver_nothing(api, waiting, event, body, words):
    from workflows.models import ExternalEvent

    response = api.post(event_url(waiting, event), body, format="json")

    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]
    assert not ExternalEvent.objects.exists()


def test_oversized_event_data_is_413(api, waiting, settings):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 100

    response = api.post(event_url(waiting), {"data": "x" * 200}, format="json")

    assert response.status_code == 413
    assert "event data" in response.json()["detail"]
