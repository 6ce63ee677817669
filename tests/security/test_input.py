"""Bad input never reaches a 500: raise-event data, API bodies over the limit, unknown
websocket paths, business keys that would forge log lines.

Each answer is a 4xx that says what was wrong, and nothing changes.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from tests.support import workflows  # noqa: F401 - registers t_chain, t_wait_event
from workflows.api.limits import BodyLimitMiddleware
from workflows.client import DurableClient
from workflows.engine.errors import InvalidInput
from workflows.models import ExternalEvent, Instance

START = "/api/v1/instances/"
JSON = "application/json"


@pytest.fixture
def user(db) -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    person = get_user_model().objects.create_user("sam")
    codenames = ("view_instance", "view_payloads", "raise_event", "start_instance")
    perms = Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames)
    assert perms.count() == len(codenames)
    person.user_permissions.add(*perms)
    return person


@pytest.fixture
def browser(user) -> Client:
    signed_in = Client()
    signed_in.force_login(user)
    return signed_in


def api_post(browser: Client, body: bytes) -> Any:
    """POST ``body`` to the API's start endpoint, signed in by session (the test client
    skips CSRF checks)."""
    return browser.post(START, body, content_type=JSON)


# -- 9. raise-event data on the instance page -----------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("[" * 5000 + "]" * 5000, "The event data is nested deeper than 100 levels"),
        ('{"n": ' + "7" * 5000 + "}", "The event data contains a number of 5000 digits"),
        ('{"n": Infinity}', "The event data contains Infinity, which is not JSON"),
    ],
    ids=["5000-deep", "5000-digits", "infinity"],
)
def test_event_data_the_api_refuses_is_a_400_naming_the_problem(browser, data, words):
    """Before: RecursionError and ValueError escaped the form as a 500."""
    DurableClient().start("t_wait_event", None, instance_id="w-1")

    response = browser.post(
        "/instances/w-1/events/", {"name": "approve", "data": data}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 400
    assert words in response.content.decode()
    assert not ExternalEvent.objects.exists()


# -- 10. API bodies over the limit: the API's JSON 413, before the body is read ---------------


def test_a_body_over_djangos_upload_limit_is_the_apis_json_413(browser, settings):
    """Before: Django's HTML "Bad Request (400)" page (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    body = json.dumps({"name": "t_chain", "input": "x" * 3_000_000}).encode()
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = api_post(browser, body)

    assert response.status_code == 413
    assert response["Content-Type"] == JSON
    result = response.json()
    assert result["error"] == "request_too_large"
    assert f"The request body is {len(body)} bytes; the limit is" in result["detail"]
    assert "DURABLE_API_MAX_BODY_BYTES" in result["detail"]
    assert not Instance.objects.exists()


def test_the_api_limit_is_the_only_one_for_api_bodies(browser, settings):
    """A limit raised past 2.5 MB holds: Django's own check no longer answers for the API."""
    settings.DURABLE_MAX_PAYLOAD_BYTES = 3_500_000
    settings.DURABLE_API_MAX_BODY_BYTES = 4_000_000
    body = json.dumps({"name": "t_chain", "input": "x" * 3_000_000}).encode()

    response = api_post(browser, body)

    assert response.status_code == 202, response.content[:300]
    assert len(Instance.objects.get().input) == 3_000_000


class Unreadable(io.RawIOBase):
    """A request stream that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


class Counting(io.BytesIO):
    """A request stream that remembers how many bytes were read from it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def passed_on(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"passed on: " + request.body)


def test_a_declared_length_over_the_limit_is_refused_without_reading(settings):
    settings.DURABLE_API_MAX_BODY_BYTES = 1000
    request = RequestFactory().post(START, b"{}", content_type=JSON)
    request.META.update({"CONTENT_LENGTH": "50000000", "wsgi.input": Unreadable()})
    request._stream = Unreadable()

    response = BodyLimitMiddleware(passed_on)(request)

    assert response.status_code == 413
    assert json.loads(response.content)["error"] == "request_too_large"
    assert (
        "The request body is 50000000 bytes; the limit is 1000 bytes"
        in (json.loads(response.content)["detail"])
    )


def asgi_request(path: str, stream: io.BytesIO) -> ASGIRequest:
    """A request as the ASGI server hands it over for a chunked body: no Content-Length."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", JSON.encode())],
    }
    return ASGIRequest(scope, stream)


def test_a_chunked_body_is_read_only_up_to_the_limit(settings):
    settings.DURABLE_API_MAX_BODY_BYTES = 1000
    stream = Counting(b"x" * 10_000_000)

    response = BodyLimitMiddleware(passed_on)(asgi_request(START, stream))

    assert response.status_code == 413
    assert "larger than allowed; the limit is 1000 bytes" in response.content.decode()
    assert stream.taken <= 1001


def test_a_chunked_body_within_the_limit_is_passed_on_whole(settings):
    settings.DURABLE_API_MAX_BODY_BYTES = 1000
    request = asgi_request(START, Counting(b'{"name": "t_chain"}'))

    response = BodyLimitMiddleware(passed_on)(request)

    assert response.content == b'passed on: {"name": "t_chain"}'
    assert request.META["CONTENT_LENGTH"] == "19"  # DRF reads no body without a length


def test_other_paths_are_left_to_django(settings):
    settings.DURABLE_API_MAX_BODY_BYTES = 1000
    request = RequestFactory().post("/start/", {"name": "t_chain"})
    request.META["CONTENT_LENGTH"] = "50000000"

    assert BodyLimitMiddleware(lambda r: HttpResponse("view"))(request).content == b"view"


def test_the_project_answers_a_chunked_api_body_over_the_limit_with_413(db):
    """Through the real ASGI application: no Content-Length, 3 MB of body."""
    from durableapp.asgi import application

    body = json.dumps({"name": "t_chain", "input": "x" * 3_000_000}).encode()
    communicator = HttpCommunicator(
        application,
        "POST",
        START,
        body=body,
        headers=[(b"content-type", b"application/json"), (b"host", b"localhost")],
    )

    response = async_to_sync(communicator.get_response)(timeout=30)

    assert response["status"] == 413
    assert json.loads(response["body"])["error"] == "request_too_large"
    assert not Instance.objects.exists()


# -- 11. websocket paths that match no route ------------------------------------------------


def connect(path: str) -> tuple[bool, int | str | None]:
    """Connect to the project's ASGI application (origin check, sessions, router)."""
    from durableapp.asgi import application

    async def attempt() -> tuple[bool, int | str | None]:
        socket = WebsocketCommunicator(
            application, path, headers=[(b"origin", b"http://localhost")]
        )
        try:
            return await socket.connect(timeout=5)
        finally:
            await socket.disconnect()

    return async_to_sync(attempt)()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/ws/nope/", "/ws/instances/bad id/", "/", "/ws/instances"])
def test_an_unknown_websocket_path_is_closed_with_4404(path, caplog):
    """Before: channels' URLRouter raised ValueError ("No route found"): a 500 and a
    traceback in the log for every probe."""
    assert connect(path) == (False, 4404)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


@pytest.mark.django_db
def test_known_websocket_paths_still_reach_their_consumer():
    assert connect("/ws/instances/") == (False, 4401)  # the consumer: sign in first


# -- 12. business keys cannot forge log lines -----------------------------------------------


def test_the_client_refuses_a_business_key_with_a_newline(db):
    with pytest.raises(InvalidInput, match="a control character"):
        DurableClient().start("t_chain", 1, business_key="SO-1\nERROR forged")
    assert not Instance.objects.exists()


def test_the_api_refuses_a_business_key_with_a_newline(browser):
    body = json.dumps({"name": "t_chain", "business_key": "SO-1\r\nERROR forged"}).encode()

    response = api_post(browser, body)

    assert response.status_code == 400
    assert "a control character" in response.json()["detail"]
    assert not Instance.objects.exists()
