"""Broker queue and actor names of a task hub, and which queues this process serves.

Senders address messages by these names (workflows/runtime/dispatch.py), so nothing
below the worker imports the actors; the actors and the worker declare and consume them.
See docs/architecture.md, "Messages".
"""

from __future__ import annotations

from collections.abc import Iterable

ORCHESTRATION = "orchestration"
ACTIVITY = "activity"
# A new instance's first episode: on the activity queue, so the thread that runs it runs
# the first activity too (docs/architecture.md, "Messages").
START = "start"
KINDS = (ORCHESTRATION, ACTIVITY)


def queue_name(kind: str, hub: str, queue: str | None = None) -> str:
    """The queue of ``kind`` ("orchestration" or "activity") messages of a task hub.

    ``queue``: an activity's own queue (``@activity(queue=...)``).

    Example::

        >>> queue_name("activity", "default", "partner-api")
        'durable-default-activities-partner-api'
    """
    name = f"durable-{hub}-{'orchestrations' if kind == ORCHESTRATION else 'activities'}"
    return f"{name}-{queue}" if queue else name


def actor_name(kind: str, hub: str, queue: str | None = None) -> str:
    """The Dramatiq actor that runs ``kind`` messages of a hub (and of an own queue).

    Example::

        >>> actor_name("start", "default")
        'run_start_default'
    """
    return f"run_{kind}_{hub}" + (f"__{queue}" if queue else "")


# -- which queues this process's worker consumes ----------------------------------------
# None: every queue (the default, and any process that runs no worker).
_served: frozenset[str] | None = None


def remember_served(selection: Iterable[str] | None) -> None:
    """Record the worker's choice of queues ("orchestrations", "default", own queues)."""
    global _served
    _served = None if selection is None else frozenset(selection)


def serves_default_queue() -> bool:
    """Does this process consume the hub's default activity queue?"""
    return _served is None or "default" in _served
