"""Waiting for an instance to finish without polling: completion notifications.

An episode that finishes an instance announces it in its own transaction
(:func:`announce`): on PostgreSQL a ``pg_notify`` on the hub's channel (delivered by the
server at commit, dropped on rollback), in every process the ``instance_changed`` signal
after commit. A waiter (:func:`wait_until`) registers, makes sure the process's listener
is listening, then reads the state: a finish committed before the read is seen by the
read, one after it wakes the waiter. The database stays the truth: a notification only
says "read again", and waiters re-read at least every ``recheck`` seconds, so a lost or
never-sent one (a terminate from another process, a listener reconnecting) only costs
that delay.

One listener thread per process and hub holds a dedicated autocommit connection with
``LISTEN``. Behind PgBouncer in transaction pooling (``DATABASE_PGBOUNCER=1``) a session
cannot keep a ``LISTEN``, so there (and on SQLite) waiters poll; finishes in this
process still wake them at once. See docs/architecture.md, "Outcomes".
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from django.db import connection
from psycopg import sql

from ..compiled import StatementBatch, sending
from ..signals import instance_changed
from ..statuses import TERMINAL

log = logging.getLogger("workflows.runtime")

T = TypeVar("T")

# Without a listener, waiters re-read this often (seconds) unless the caller says.
LISTENER_RECHECK = 0.5
# How long a waiter gives a new listener to start listening before it polls instead.
LISTEN_READY_SECONDS = 2.0
# A listener looks this often whether it was asked to stop.
STOP_CHECK_SECONDS = 0.5
# A listener nobody has used for this long closes its connection (the next waiter opens
# one again): a web process that served one long-poll keeps no session for ever.
IDLE_SECONDS = 10.0

_lock = threading.Lock()
_waiters: dict[str, set[threading.Event]] = {}
_listeners: dict[str, _Listener] = {}


def channel(hub: str) -> str:
    """The hub's notification channel: a plain identifier whatever the hub's name."""
    return "durable_done_" + hashlib.sha1(hub.encode()).hexdigest()[:16]


def announce(instance: Any, batch: StatementBatch | None = None) -> None:
    """Say, in the current transaction, that ``instance`` (an Instance) has finished;
    with ``batch``, in its round trip.

    Same-process waiters hear the ``instance_changed`` signal the episode sends anyway.
    """
    if connection.vendor != "postgresql" or _behind_pgbouncer():
        return
    with sending(batch) as adding:
        adding.add("SELECT pg_notify(%s, %s)", [channel(instance.task_hub), instance.instance_id])


def wait_until(
    instance_id: str,
    hub: str,
    read: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    poll: float = 0.05,
) -> tuple[T, bool]:
    """Call ``read`` until ``done(value)`` or ``timeout`` seconds; returns (last value, done).

    Between reads it sleeps until a notification for ``instance_id`` arrives, or ``poll``
    seconds without a listener (``LISTENER_RECHECK`` with one).

    Example::

        state, finished = wait_until(
            "order-7", "default", lambda: client.get_status("order-7"),
            lambda s: s.is_finished, timeout=30,
        )
    """
    event = threading.Event()
    with _lock:
        _waiters.setdefault(instance_id, set()).add(event)
    try:
        listening = _listening(hub)
        interval = max(poll, LISTENER_RECHECK) if listening else poll
        deadline = time.monotonic() + timeout
        while True:
            event.clear()  # cleared before the read: a finish after it sets it again
            value = read()
            if done(value):
                return value, True
            left = deadline - time.monotonic()
            if left <= 0:
                return value, False
            event.wait(min(left, interval))
    finally:
        with _lock:
            events = _waiters.get(instance_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del _waiters[instance_id]


def wake(instance_id: str) -> None:
    """Wake this process's waiters of ``instance_id`` (they read its state again)."""
    with _lock:
        events = list(_waiters.get(instance_id, ()))
    for event in events:
        event.set()


def _on_changed(sender: Any, instance_id: str, status: str, **kwargs: Any) -> None:
    if status in TERMINAL:
        wake(instance_id)


instance_changed.connect(_on_changed, dispatch_uid="workflows.runtime.completions")


def stop_listening() -> None:
    """Close this process's listener connections (waiters poll until one starts again)."""
    with _lock:
        listeners = list(_listeners.values())
        _listeners.clear()
    for listener in listeners:
        listener.stopping.set()
    for listener in listeners:
        listener.join(STOP_CHECK_SECONDS * 5)


def _behind_pgbouncer() -> bool:
    # The one setting DATABASE_PGBOUNCER=1 changes (durableapp/settings.database).
    return bool(connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"))


def _listening(hub: str) -> bool:
    """Whether this process hears the hub's notifications (starting its listener)."""
    if connection.vendor != "postgresql" or _behind_pgbouncer():
        return False
    with _lock:
        listener = _listeners.get(hub)
        if listener is None:
            listener = _listeners[hub] = _Listener(hub, connection.get_connection_params())
            listener.start()
    return listener.ready.wait(LISTEN_READY_SECONDS)


class _Listener(threading.Thread):
    """LISTEN on one hub's channel on its own connection; wake waiters by instance id.

    Reconnects after an error (a database restart); while it is down waiters poll.
    """

    def __init__(self, hub: str, params: dict[str, Any]) -> None:
        super().__init__(name=f"durable-completions-{hub}", daemon=True)
        self.hub = hub
        self.params = {k: v for k, v in params.items() if k != "cursor_factory"}
        self.ready = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(**self.params, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self.hub))))
                    self.ready.set()
                    # A re-read for everyone: finishes while we were not listening.
                    self._wake_all()
                    idle_since = time.monotonic()
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=STOP_CHECK_SECONDS):
                            wake(note.payload)
                        if _waiters:
                            idle_since = time.monotonic()
                        elif time.monotonic() - idle_since > IDLE_SECONDS and self._retire():
                            return  # nobody waits: no idle session held for ever
            except Exception:  # noqa: BLE001 - keep listening whatever broke
                log.warning("completion listener of hub %s lost its connection", self.hub)
                self.stopping.wait(1.0)
            self.ready.clear()
            self._wake_all()

    def _retire(self) -> bool:
        """Leave, unless a waiter came meanwhile (waiters register before they look for
        a listener, so one that comes later starts a new one)."""
        with _lock:
            if _waiters:
                return False
            if _listeners.get(self.hub) is self:
                del _listeners[self.hub]
            self.ready.clear()
        return True

    @staticmethod
    def _wake_all() -> None:
        with _lock:
            events = [e for group in _waiters.values() for e in group]
        for event in events:
            event.set()
