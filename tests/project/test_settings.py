"""The env-driven project settings, and the DURABLE_* settings read by workflows/conf.py."""

import dramatiq
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from durableapp.settings import dramatiq_broker
from workflows import conf as conf_module
from workflows.conf import check_settings, conf


@pytest.mark.parametrize(
    ("url", "broker"),
    [
        ("embedded", "dramatiq.brokers.stub.StubBroker"),
        ("amqp://guest:guest@127.0.0.1:5672/", "dramatiq.brokers.rabbitmq.RabbitmqBroker"),
        ("redis://127.0.0.1:6379/0", "dramatiq.brokers.redis.RedisBroker"),
    ],
)
def test_broker_url_selects_the_broker(url, broker):
    config = dramatiq_broker(url)

    assert config["BROKER"] == broker
    if url != "embedded":
        assert config["OPTIONS"] == {"url": url}


def test_unknown_broker_url_names_the_value_and_the_accepted_forms():
    with pytest.raises(ImproperlyConfigured, match=r"'kafka://x'.*embedded.*amqp://.*redis://"):
        dramatiq_broker("kafka://x")


def test_dramatiq_does_not_retry_the_engine_does():
    middleware = {type(m).__name__ for m in dramatiq.get_broker().middleware}

    assert "Retries" not in middleware
    assert "DbConnectionsMiddleware" in middleware


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")
def test_sqlite_runs_in_wal_mode_with_immediate_transactions():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        (journal_mode,) = cursor.fetchone()
        cursor.execute("PRAGMA busy_timeout")
        (busy_timeout,) = cursor.fetchone()

    assert journal_mode == "wal"
    assert busy_timeout == 30000
    assert connection.transaction_mode == "IMMEDIATE"


def test_templates_and_static_come_from_the_project_folders():
    assert settings.TEMPLATES[0]["DIRS"] == [settings.BASE_DIR / "templates"]
    assert settings.STATICFILES_DIRS == [settings.BASE_DIR / "static"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DURABLE_ACTIVITY_BATCH_SIZE", "0"),
        ("DURABLE_ACTIVITY_BATCH_SECONDS", "-1"),
        ("DURABLE_ACTIVITY_BATCH_SIZE", "many"),
        ("DURABLE_ACTIVITY_LEASE_SECONDS", "soon"),
        ("DURABLE_TASK_HUB", "no spaces"),
        ("DURABLE_ACTIVITY_LIMITS", "{not json"),
        ("DURABLE_ACTIVITY_LIMITS", '{"call_partner": 5}'),
        ("DURABLE_SKIP_REPLAY_CHECK", "maybe"),
    ],
)
def test_a_bad_setting_stops_every_command_naming_it(name, value):
    import os
    import subprocess
    import sys

    env = {**os.environ, name: value}
    run = subprocess.run(
        [sys.executable, "manage.py", "durable", "list"],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert run.returncode != 0
    assert name in run.stderr
    assert "is not valid: use" in run.stderr


def test_a_misspelt_setting_is_a_warning_that_names_the_right_one():
    from django.core.management import call_command

    with override_settings(DURABLE_ACTIVTY_LEASE_SECONDS="30"):
        problems = check_settings()

    assert [p.id for p in problems] == ["durable.W001"]
    assert "DURABLE_ACTIVTY_LEASE_SECONDS" in problems[0].msg
    assert problems[0].hint == "did you mean DURABLE_ACTIVITY_LEASE_SECONDS?"
    call_command("check")  # a warning does not stop start-up


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30", 30.0), (30, 30.0), ("2.5", 2.5)],
)
def test_settings_read_from_text_or_python_values(value, expected):
    with override_settings(DURABLE_ACTIVITY_LEASE_SECONDS=value):
        assert expected == conf.ACTIVITY_LEASE_SECONDS
        assert check_settings() == []


def test_a_kept_value_is_read_again_when_the_setting_changes(settings):
    """conf keeps each parsed value (a step reads some twenty) until Django says the setting
    changed: override_settings and pytest-django's settings fixture both say so."""
    settings.DURABLE_ACTIVITY_LEASE_SECONDS = "40"
    assert conf.ACTIVITY_LEASE_SECONDS == 40.0
    assert conf.ACTIVITY_LEASE_SECONDS == 40.0  # kept
    with override_settings(DURABLE_ACTIVITY_LEASE_SECONDS="42"):
        assert conf.ACTIVITY_LEASE_SECONDS == 42.0
    assert conf.ACTIVITY_LEASE_SECONDS == 40.0
    settings.DURABLE_ACTIVITY_LEASE_SECONDS = "bad"
    with pytest.raises(ImproperlyConfigured, match="DURABLE_ACTIVITY_LEASE_SECONDS='bad'"):
        conf.ACTIVITY_LEASE_SECONDS  # noqa: B018 - a bad value is never kept
    del settings.DURABLE_ACTIVITY_LEASE_SECONDS
    lease = conf_module.SETTINGS["DURABLE_ACTIVITY_LEASE_SECONDS"]
    assert lease.parse(lease.default) == conf.ACTIVITY_LEASE_SECONDS


def test_each_setting_has_one_default_here_and_none_in_the_settings_module():
    import durableapp.settings as module

    defined = {name for name in vars(module) if name.startswith("DURABLE_")}
    assert defined - {"DURABLE_BROKER_URL", "DURABLE_LOG_FORMAT"} <= set(os_environ_durable())
    assert conf.ACTIVITY_BATCH_SIZE == 25 or "DURABLE_ACTIVITY_BATCH_SIZE" in os_environ_durable()


def os_environ_durable() -> set[str]:
    import os

    return {name for name in os.environ if name.startswith("DURABLE_")}


def test_debug_is_off_unless_asked_for():
    from tests.security.support import production_env, settings_in

    assert settings_in(production_env(), "DEBUG") == {"DEBUG": False}
    assert settings_in(production_env(DJANGO_DEBUG="1"), "DEBUG") == {"DEBUG": True}


def test_without_debug_a_secret_key_is_required_and_named():
    from tests.security.support import production_env, startup_error

    error = startup_error(production_env(DJANGO_SECRET_KEY=None))

    assert "DJANGO_SECRET_KEY must be set" in error
    assert "DJANGO_DEBUG=1" in error  # the way out on a development machine


def test_debug_on_works_without_a_secret_key():
    from tests.security.support import production_env, settings_in

    env = production_env(DJANGO_SECRET_KEY=None, DJANGO_DEBUG="1")

    values = settings_in(env, "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE")
    assert values == {"DEBUG": True, "SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False}


def test_only_make_run_turns_debug_on():
    import subprocess

    dry_run = subprocess.run(
        ["make", "-n", "run", "test-sqlite", "lint"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    run_lines = [line for line in dry_run if "manage.py" in line]

    assert run_lines and all(line.startswith("DJANGO_DEBUG=1 ") for line in run_lines)
    assert sum("DJANGO_DEBUG" in line for line in dry_run) == len(run_lines)


def test_a_test_run_gets_the_development_defaults():
    # pytest's PYTEST_VERSION: a key of this machine, plain HTTP, no throttle (the servers
    # and workers that tests start inherit the same).
    assert settings.TESTING and not settings.DEBUG
    assert settings.SECRET_KEY
    assert not settings.SECURE_SSL_REDIRECT and not settings.SESSION_COOKIE_SECURE
    assert settings.API_THROTTLE_RATE == ""
