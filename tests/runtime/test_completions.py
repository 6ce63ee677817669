"""Waiting for a finish is woken by the finish itself (LISTEN/NOTIFY across processes on
PostgreSQL, the after-commit signal in the process), not by polling; the database stays
the truth (a finish nobody announced is still seen by the re-read)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests.support import workflows  # noqa: F401 - registers the test workflows
from tests.support.checks import wait_until
from workflows.models import Instance
from workflows.runtime import completions

HOUR = 3600.0


def listens() -> bool:
    """PostgreSQL reached directly: LISTEN/NOTIFY (behind PgBouncer waiters poll)."""
    return connection.vendor == "postgresql" and not completions._behind_pgbouncer()


@pytest.fixture
def no_polling(monkeypatch):
    """Waiters re-read only when woken: a missing notification makes the wait time out."""
    monkeypatch.setattr(completions, "LISTENER_RECHECK", HOUR)


def raise_once_waiting(client, iid: str) -> threading.Thread:
    """Raise the instance's event (so a worker finishes it) once someone waits for it."""

    def go() -> None:
        try:
            wait_until(lambda: iid in completions._waiters, what="a waiter")
            client.raise_event(iid, "approve", "yes")
        finally:
            connection.close()

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def test_a_finish_wakes_the_waiter_without_polling(durable_client, start_worker, no_polling):
    if connection.vendor == "postgresql" and not listens():
        pytest.skip("behind PgBouncer a finish in another process is found by polling")
    start_worker()  # a `durable worker` process on a real broker: the finish is NOTIFY'd
    iid = durable_client.start("t_wait_event", None)
    wait_until(lambda: Instance.objects.get(instance_id=iid).history_length > 0, what="started")
    thread = raise_once_waiting(durable_client, iid)
    state = durable_client.wait_for_completion(iid, timeout=60, poll=HOUR)
    thread.join()
    assert (state.status, state.output) == ("completed", {"got": "yes"})
    assert iid not in completions._waiters  # the waiter unregistered


def test_a_finish_nobody_announced_is_seen_by_the_re_read(durable_client):
    iid = durable_client.start("t_wait_event", None)

    def finish_quietly() -> None:  # a row update with no notification and no signal
        try:
            wait_until(lambda: iid in completions._waiters, what="a waiter")
            Instance.objects.filter(instance_id=iid).update(status="completed")
        finally:
            connection.close()

    thread = threading.Thread(target=finish_quietly)
    thread.start()
    state = durable_client.wait_for_completion(iid, timeout=60, poll=0.05)
    thread.join()
    assert state.status == "completed"


def test_a_wait_that_times_out_names_the_status(durable_client):
    iid = durable_client.start("t_wait_event", None)
    with pytest.raises(TimeoutError, match="still pending after 0.2 s"):
        durable_client.wait_for_completion(iid, timeout=0.2)
    assert not completions._waiters.get(iid)


def test_notifications_are_sent_in_the_finishing_transaction(durable_client, start_worker):
    if not listens():
        pytest.skip("LISTEN/NOTIFY: PostgreSQL reached directly")
    import psycopg

    params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {completions.channel(durable_client.hub)}")
        iid = durable_client.start("t_chain", 2)
        start_worker()
        heard = [n.payload for n in listener.notifies(timeout=60, stop_after=1)]
    assert heard == [iid]


def test_the_channel_is_a_plain_identifier_for_any_hub():
    name = completions.channel('a "hub"; DROP TABLE x')
    assert name.isidentifier() and len(name) < 64
    assert name != completions.channel("default")


def test_a_listener_nobody_uses_closes_its_connection(durable_client, monkeypatch):
    if not listens():
        pytest.skip("LISTEN/NOTIFY: PostgreSQL reached directly")
    monkeypatch.setattr(completions, "IDLE_SECONDS", 0.5)
    iid = durable_client.start("t_wait_event", None)
    with pytest.raises(TimeoutError):
        durable_client.wait_for_completion(iid, timeout=0.1)
    listener = completions._listeners[durable_client.hub]
    wait_until(lambda: durable_client.hub not in completions._listeners, what="retired")
    listener.join(10)
    assert not listener.is_alive()
    with pytest.raises(TimeoutError):  # the next waiter starts another one
        durable_client.wait_for_completion(iid, timeout=0.1)
    assert completions._listeners[durable_client.hub] is not listener
