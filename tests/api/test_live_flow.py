"""The asynchronous pattern end to end, over real HTTP against a running server and worker:
start -> 202 + Location -> poll (202 + Retry-After) -> raise the event -> poll -> 200."""

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from .support import CODENAMES, grant


class Http:
    """Plain urllib with a token, as an integration outside Python's world would do it."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict, Any]:
        url = path if path.startswith("http") else f"{self.base}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, dict(error.headers), error.read()
        return status, headers, json.loads(raw) if raw else None

    def poll(self, url: str, until: Any, timeout: float = 30) -> tuple[int, dict, Any]:
        """GET ``url`` until ``until(status, body)``, waiting as Retry-After says (capped)."""
        deadline = time.monotonic() + timeout
        while True:
            status, headers, body = self.call("GET", url)
            if until(status, body):
                return status, headers, body
            assert status == 202, body
            assert time.monotonic() < deadline, f"still {body['status']} after {timeout} s"
            time.sleep(min(float(headers["Retry-After"]), 0.2))


@pytest.fixture
def http(live_server, django_user_model, worker) -> Http:
    from tests.support.tokens import token_for

    user = django_user_model.objects.create_user("integration", password=None)
    grant(user, *CODENAMES)
    return Http(live_server.url, token_for(user))


def test_start_poll_event_poll_until_200(http):
    status, headers, started = http.call(
        "POST", "/api/v1/instances/", {"name": "t_wait_event", "input": None}
    )
    assert status == 202
    location = headers["Location"]
    assert location == started["links"]["status"]
    assert int(headers["Retry-After"]) >= 1

    # Waiting for the event: 202 + Retry-After, running.
    status, headers, body = http.poll(location, lambda s, b: b["status"] == "running")
    assert status == 202
    assert "Retry-After" in headers

    send = started["links"]["send_event"].replace("{event}", "approve")
    status, _, delivered = http.call("POST", send, {"event_id": "e-1", "data": {"ok": True}})
    assert (status, delivered["outcome"]) == (202, "delivered")
    status, _, again = http.call("POST", send, {"event_id": "e-1", "data": {"ok": False}})
    assert (status, again["outcome"]) == (200, "duplicate")

    status, headers, done = http.poll(location, lambda s, b: s == 200)
    assert done["status"] == "completed"
    assert done["output"] == {"got": {"ok": True}}
    assert "Retry-After" not in headers

    status, _, gone = http.call("POST", send, {"data": 1})
    assert status == 410
    assert "already finished (completed)" in gone["detail"]

    assert http.call("DELETE", location)[0] == 204
    assert http.call("GET", location)[0] == 404


def test_a_chain_runs_to_200_and_its_history_pages_join_up(http):
    _, headers, _ = http.call("POST", "/api/v1/instances/", {"name": "t_chain", "input": 4})

    _, _, done = http.poll(headers["Location"], lambda s, b: s == 200)
    assert (done["status"], done["output"]) == ("completed", 6)

    full = http.call("GET", f"{headers['Location']}?history=1")[2]["history"]
    events, page_url = [], f"{headers['Location']}history/?limit=3"
    while page_url:
        status, _, page = http.call("GET", page_url)
        assert status == 200
        assert len(page["results"]) <= 3
        events += page["results"]
        page_url = page["next"]
    assert events == full
    assert [e["seq"] for e in events] == list(range(1, len(full) + 1))
    assert len(full) > 3


def test_unauthenticated_is_401_and_healthz_is_open(http):
    anonymous = Http(http.base)

    status, headers, body = anonymous.call("GET", "/api/v1/instances/")
    assert (status, headers["WWW-Authenticate"]) == (401, "Token")
    status, _, health = anonymous.call("GET", "/healthz")
    assert (status, health) == (200, {"database": "ok", "broker": "ok"})


def test_the_docs_page_is_served_without_a_cdn(live_server):
    request = urllib.request.Request(
        f"{live_server.url}/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
