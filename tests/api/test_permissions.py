"""Authentication: 401 for anonymous callers and wrong tokens, sessions and CSRF. Who may
call what is tests/api/test_permission_matrix.py."""

import pytest

from .support import grant, url

pytestmark = pytest.mark.django_db

# (method, path, body): a call of each kind (the matrix has every endpoint).
CALLS = [
    ("get", "/api/v1/instances/", None),
    ("post", "/api/v1/instances/", {"name": "t_wait_event"}),
    ("get", url("waiting-1"), None),
    ("get", url("waiting-1", "history/"), None),
    ("post", url("waiting-1", "events/approve/"), {"data": 1}),
    ("post", url("waiting-1", "suspend/"), {}),
    ("post", url("waiting-1", "terminate/"), {}),
    ("post", url("finished-1", "rewind/"), {}),
    ("post", url("finished-1", "restart/"), {}),
    ("delete", url("finished-1"), None),
]
IDS = [f"{method} {path}" for method, path, *_ in CALLS]


def call(client, method, path, body):
    return (
        getattr(client, method)(path, body, format="json")
        if body is not None
        else (getattr(client, method)(path))
    )


@pytest.mark.parametrize(("method", "path", "body"), CALLS, ids=IDS)
def test_anonymous_callers_get_401_with_a_token_challenge(waiting, finished, method, path, body):
    from rest_framework.test import APIClient

    response = call(APIClient(), method, path, body)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize(("method", "path", "body"), CALLS, ids=IDS)
def test_a_wrong_token_is_401(waiting, method, path, body):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert call(client, method, path, body).status_code == 401


def test_payloads_need_view_payloads(make_api, finished):
    without = make_api("operate_instance", "start_instance", "raise_event").get(url(finished))
    with_it = make_api("view_instance", "view_payloads").get(url(finished))

    assert "input" not in without.json()
    assert with_it.json()["input"] == 3


def test_a_session_works_too(db, client, waiting):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("viewer", password=None)
    grant(user, "view_instance")
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
