"""/healthz: no login, 200 when database and broker answer, 503 naming the failing part."""

import dramatiq
import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_healthy_with_the_configured_broker(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_head_works_and_writes_do_not(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_a_failing_database_is_503_and_says_only_which_part(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise RuntimeError("password authentication failed for user 'secret'")

    monkeypatch.setattr(connection, "cursor", broken_cursor)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"database": "unavailable", "broker": "ok"}
    assert b"secret" not in response.content


def unreachable_rabbitmq():
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url="amqp://guest:guest@127.0.0.1:1/")


def unreachable_redis():
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url="redis://127.0.0.1:1/0")


@pytest.mark.parametrize("make_broker", [unreachable_rabbitmq, unreachable_redis])
def test_an_unreachable_broker_is_503(client, monkeypatch, make_broker):
    monkeypatch.setattr(dramatiq, "get_broker", make_broker)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "unavailable"}
