"""Fixtures of the API tests: users with given permissions, token clients, instances."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tests.support import workflows  # noqa: F401 - registers t_chain, t_wait_event, ...

from .support import CODENAMES, grant


@pytest.fixture
def make_api(db) -> Callable[..., APIClient]:
    """``make_api("start_instance", ...)``: an APIClient authenticated by token as a new
    user holding exactly those permissions (``superuser=True`` for a superuser)."""
    from django.contrib.auth import get_user_model

    from tests.support.tokens import token_for

    count = 0

    def make(*codenames: str, superuser: bool = False, username: str = "") -> APIClient:
        nonlocal count
        count += 1
        username = username or f"user{count}"
        model = get_user_model()
        if superuser:
            user = model.objects.create_superuser(username, f"{username}@example.com", None)
        else:
            user = model.objects.create_user(username, f"{username}@example.com", None)
        grant(user, *codenames)
        api = APIClient()
        api.token = token_for(user)
        api.credentials(HTTP_AUTHORIZATION=f"Token {api.token}")
        api.user = user
        return api

    return make


@pytest.fixture
def api(make_api) -> APIClient:
    """A user with all four permissions (not a superuser)."""
    return make_api(*CODENAMES, username="operator")


@pytest.fixture
def reader(make_api) -> APIClient:
    """Signed in, no permissions: may read status without payloads."""
    return make_api(username="reader")


@pytest.fixture
def durable(db):
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def waiting(durable) -> str:
    """A pending instance of t_wait_event (no worker runs it in unit tests)."""
    return durable.start("t_wait_event", None, instance_id="waiting-1", business_key="order-7")


@pytest.fixture
def finished(durable) -> str:
    """A terminated (finished) instance with input and failure details."""
    iid = durable.start("t_chain", 3, instance_id="finished-1")
    durable.terminate(iid, "test over")
    return iid
