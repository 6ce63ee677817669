"""Who may call what (docs/architecture.md, "Who may do what"): the permission matrix,
401 for anonymous callers."""

import pytest

from .support import CODENAMES, url

pytestmark = pytest.mark.django_db

# (method, path, body, codename it needs or None for any signed-in user, status when allowed)
CALLS = [
    ("get", "/api/v1/instances/", None, None, 200),
    ("post", "/api/v1/instances/", {"name": "t_wait_event"}, "start_instance", 202),
    ("get", url("waiting-1"), None, None, 202),
    ("get", url("waiting-1", "history/"), None, None, 200),
    ("post", url("waiting-1", "events/approve/"), {"data": 1}, "raise_event", 202),
    ("post", url("waiting-1", "suspend/"), {}, "operate_instance", 200),
    ("post", url("waiting-1", "terminate/"), {}, "operate_instance", 200),
    ("post", url("finished-1", "rewind/"), {}, "operate_instance", 409),  # not failed
    ("post", url("finished-1", "restart/"), {}, "operate_instance", 202),
    ("delete", url("finished-1"), None, "operate_instance", 204),
]
IDS = [f"{method} {path}" for method, path, *_ in CALLS]


def call(client, method, path, body):
    return (
        getattr(client, method)(path, body, format="json")
        if body is not None
        else (getattr(client, method)(path))
    )


@pytest.mark.parametrize(("method", "path", "body", "needs", "allowed"), CALLS, ids=IDS)
def test_anonymous_callers_get_401_with_a_token_challenge(
    waiting, finished, method, path, body, needs, allowed
):
    from rest_framework.test import APIClient

    response = call(APIClient(), method, path, body)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize(("method", "path", "body", "needs", "allowed"), CALLS, ids=IDS)
def test_a_wrong_token_is_401(waiting, method, path, body, needs, allowed):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert call(client, method, path, body).status_code == 401


@pytest.mark.parametrize(("method", "path", "body", "needs", "allowed"), CALLS, ids=IDS)
@pytest.mark.parametrize(
    "held", [(), *[(c,) for c in CODENAMES]], ids=lambda h: "+".join(h) or "none"
)
def test_each_call_needs_exactly_its_permission(
    make_api, waiting, finished, method, path, body, needs, allowed, held
):
    response = call(make_api(*held), method, path, body)

    if needs is None or needs in held:
        assert response.status_code == allowed, response.content
    else:
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"
        assert f"workflows.{needs}" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body", "needs", "allowed"), CALLS, ids=IDS)
def test_a_superuser_may_do_everything(
    make_api, waiting, finished, method, path, body, needs, allowed
):
    assert call(make_api(superuser=True), method, path, body).status_code == allowed


def test_payloads_need_view_payloads(make_api, finished):
    without = make_api("operate_instance", "start_instance", "raise_event").get(url(finished))
    with_it = make_api("view_payloads").get(url(finished))

    assert "input" not in without.json()
    assert with_it.json()["input"] == 3


def test_a_session_works_too(db, client, waiting):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("viewer", password=None)
    client.force_login(user)

    assert client.get(url(waiting)).status_code == 202
    assert client.post("/api/v1/instances/", {"name": "t_chain"}).status_code == 403


def test_sessions_need_the_csrf_token_for_changes(db, waiting):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    user = get_user_model().objects.create_superuser("boss", password=None)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(url(waiting, "terminate/"), {}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
