"""Login everywhere; log in and out; error pages without stack traces."""

from __future__ import annotations

import pytest

from tests.ui.support import text

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/approvals/",
    "/approvals/list/",
    "/console/",
    "/console/overview/",
    "/console/instances/",
    "/start/",
    "/instances/order-1/",
    "/instances/order-1/body/",
]
ACTIONS = [
    "/approvals/1/decide/",
    "/instances/order-1/terminate/",
    "/instances/order-1/events/",
    "/compensations/1/resolve/",
    "/start/",
]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_needs_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", ACTIONS)
def test_every_action_needs_login(client, url, running):
    running("order-1")

    response = client.post(url, {"decision": "approve", "note": "x", "name": "t_chain"})

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_log_in_with_a_password_and_log_out(client, make_user):
    make_user("mia", groups=("managers",), password="s3cret-pass")

    page = client.get("/login/?next=/approvals/")
    wrong = client.post("/login/", {"username": "mia", "password": "nope"})
    right = client.post(
        "/login/", {"username": "mia", "password": "s3cret-pass", "next": "/approvals/"}
    )

    assert 'name="password"' in text(page)
    assert "didn't match" in text(wrong)
    assert right["Location"] == "/approvals/"
    assert "mia" in text(client.get("/approvals/"))
    assert client.post("/logout/")["Location"] == "/login/"
    assert client.get("/approvals/").status_code == 302


def test_get_on_an_action_url_is_refused_politely(operator, running):
    running("order-1")

    assert operator.get("/instances/order-1/terminate/").status_code == 405
