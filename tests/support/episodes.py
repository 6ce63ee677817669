"""Running an episode by hand, as a wake-up would (without claiming its first activity),
and holding an instance's row as a running episode does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from workflows import episodes
from workflows.engine.registry import Registry


def run_episode(instance_pk: int, registry: Registry | None = None, hub: str | None = None) -> bool:
    """Apply the instance's pending inbox messages; True when an episode ran."""
    return bool(episodes.run_episode(instance_pk, registry, hub, claim=False)[0])


@contextmanager
def row_held(instance_pk: int, timeout: float = 30) -> Iterator[None]:
    """The instance's row locked by another connection for the ``with`` block, as an
    episode running elsewhere holds it (``episodes.lock_instance``). PostgreSQL only:
    SQLite has no row locks.

    Example::

        with row_held(pk):
            assert run_episode(pk) is False  # busy
    """
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                episodes.lock_instance(instance_pk)
                locked.set()
                release.wait(timeout)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10), f"another connection could not lock instance {instance_pk}"
        yield
    finally:
        release.set()
        holder.join()
