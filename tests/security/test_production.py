"""Production is safe with no more than a secret key: `check --deploy` finds nothing, the
HTTPS settings are on, each can be turned off by its variable, bad values are named."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .support import ROOT, production_env, settings_in, startup_error

HTTPS_SETTINGS = (
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_HTTPONLY",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
)


def test_check_deploy_reports_nothing_in_production():
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=production_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout
    assert "WARNING" not in run.stdout + run.stderr


def test_production_defaults_are_https_only():
    values = settings_in(production_env(), *HTTPS_SETTINGS)

    assert values == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


def test_each_https_setting_has_its_variable():
    env = production_env(
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_SECURE_HSTS_SECONDS="3600",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        DJANGO_SECURE_HSTS_PRELOAD="0",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Scheme",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://ops.example.com",
    )

    values = settings_in(env, *HTTPS_SETTINGS, "CSRF_TRUSTED_ORIGINS")

    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SCHEME", "https"]
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://ops.example.com"]
    no_proxy = production_env(DJANGO_SECURE_PROXY_SSL_HEADER="")
    assert settings_in(no_proxy, "SECURE_PROXY_SSL_HEADER") == {"SECURE_PROXY_SSL_HEADER": None}


def test_production_limits_logins_and_the_api():
    values = settings_in(
        production_env(),
        "AXES_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
        "AXES_LOCKOUT_PARAMETERS",
        "API_THROTTLE_RATE",
        "API_TOKEN_DAYS",
        "PROXY_COUNT",
    )

    assert values == {
        "AXES_FAILURE_LIMIT": 5,
        "AXES_COOLOFF_TIME": "0:15:00",
        "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
        "API_THROTTLE_RATE": "20/second",
        "API_TOKEN_DAYS": 90,
        "PROXY_COUNT": 0,
    }


def test_login_and_api_limits_have_their_variables():
    env = production_env(
        DJANGO_LOGIN_FAILURE_LIMIT="10",
        DJANGO_LOGIN_COOLOFF_MINUTES="2.5",
        DJANGO_LOGIN_LOCKOUT_BY="username+ip_address,ip_address",
        DJANGO_API_THROTTLE_RATE="1000/hour",
        DJANGO_API_TOKEN_DAYS="30",
        DJANGO_PROXY_COUNT="1",
        DJANGO_CACHE_URL="redis://127.0.0.1:6379/1",
    )

    values = settings_in(
        env,
        "AXES_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
        "AXES_LOCKOUT_PARAMETERS",
        "API_THROTTLE_RATE",
        "API_TOKEN_DAYS",
        "REST_FRAMEWORK",
        "CACHES",
    )

    assert values["AXES_FAILURE_LIMIT"] == 10
    assert values["AXES_COOLOFF_TIME"] == "0:02:30"
    assert values["AXES_LOCKOUT_PARAMETERS"] == [["username", "ip_address"], "ip_address"]
    assert values["API_THROTTLE_RATE"] == "1000/hour"
    assert values["API_TOKEN_DAYS"] == 30
    assert values["REST_FRAMEWORK"]["NUM_PROXIES"] == 1
    assert values["CACHES"]["default"]["LOCATION"] == "redis://127.0.0.1:6379/1"
    unthrottled = production_env(DJANGO_API_THROTTLE_RATE="off")
    assert settings_in(unthrottled, "API_THROTTLE_RATE") == {"API_THROTTLE_RATE": ""}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_DEBUG", "maybe"),
        ("DJANGO_SECURE_SSL_REDIRECT", "sometimes"),
        ("DJANGO_SECURE_HSTS_SECONDS", "a year"),
        ("DJANGO_SECURE_HSTS_SECONDS", "-1"),
        ("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ("DJANGO_CSRF_TRUSTED_ORIGINS", "ops.example.com"),
        ("DJANGO_LOGIN_FAILURE_LIMIT", "0"),
        ("DJANGO_LOGIN_COOLOFF_MINUTES", "soon"),
        ("DJANGO_LOGIN_LOCKOUT_BY", "email"),
        ("DJANGO_API_THROTTLE_RATE", "fast"),
        ("DJANGO_API_TOKEN_DAYS", "0"),
        ("DJANGO_PROXY_COUNT", "-1"),
        ("DJANGO_CACHE_URL", "memcached://x"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(name, value):
    error = startup_error(production_env(**{name: value}))

    assert "ImproperlyConfigured" in error
    assert name in error
