"""The env-driven project settings (DESIGN.md §6)."""

import dramatiq
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from durableapp.settings import dramatiq_broker


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
    ],
)
def test_a_bad_batch_setting_stops_start_up_naming_it(name, value):
    import os
    import subprocess
    import sys

    env = {**os.environ, name: value}
    run = subprocess.run(
        [sys.executable, "-c", "import durableapp.settings"],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.stderr
    assert name in run.stderr
