"""Wrong passwords lock the login of the UI and of the admin alike (django-axes)."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory, override_settings

from tests.ui.support import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]

PASSWORD = "right-pass-1"
LIMIT = 5  # DJANGO_LOGIN_FAILURE_LIMIT's default


@pytest.fixture
def mia(django_user_model):
    return django_user_model.objects.create_user("mia", password=PASSWORD, is_staff=True)


def log_in(browser: Client, url: str, password: str, username: str = "mia", **extra):
    return browser.post(url, {"username": username, "password": password}, **extra)


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_after_the_limit_even_the_right_password_is_refused(client, mia, url):
    wrong = [log_in(client, url, "guess").status_code for _ in range(LIMIT)]

    locked = log_in(client, url, PASSWORD)

    # The form again with its error, until the failure that reaches the limit locks.
    assert wrong == [200] * (LIMIT - 1) + [429]
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    assert "Too many failed logins" in text(locked)
    assert "_auth_user_id" not in client.session


def test_one_login_page_counts_for_the_other(client, mia):
    for _ in range(LIMIT):
        log_in(client, "/login/", "guess")

    assert log_in(client, "/admin/login/", PASSWORD).status_code == 429


def test_a_success_clears_the_count(client, mia):
    for _ in range(LIMIT - 1):
        log_in(client, "/login/", "guess")
    assert log_in(client, "/login/", PASSWORD).status_code == 302
    client.post("/logout/")

    for _ in range(LIMIT - 1):
        log_in(client, "/login/", "guess")
    assert log_in(client, "/login/", PASSWORD).status_code == 302


def test_the_lock_holds_one_username_from_one_address(client, mia, django_user_model):
    django_user_model.objects.create_user("olga", password=PASSWORD)
    for _ in range(LIMIT):
        log_in(client, "/login/", "guess")

    assert log_in(Client(), "/login/", PASSWORD, REMOTE_ADDR="10.0.0.9").status_code == 302
    assert log_in(Client(), "/login/", PASSWORD, username="olga").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=2)
def test_the_limit_is_a_setting(client, mia):
    log_in(client, "/login/", "guess")
    log_in(client, "/login/", "guess")

    assert log_in(client, "/login/", PASSWORD).status_code == 429


def test_behind_proxies_the_client_is_the_address_the_outermost_one_saw(settings):
    from workflows.security.throttling import client_address

    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )

    assert client_address(request) == "10.0.0.2"  # no proxy: the header is the client's
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client_address(request) == "203.0.113.7"
