"""Enqueue wake-ups after the transaction that made them necessary commits."""

from __future__ import annotations

import logging

from django.db import transaction

log = logging.getLogger("workflows.runtime")


def _send(kind: str, pk: int, hub: str | None = None) -> None:
    from . import actors  # bound to the broker configured at start-up

    try:
        actors.actor_for(kind, hub).send(pk)
    except Exception:  # noqa: BLE001 - the sweeper re-sends from database state
        log.warning("could not enqueue %s %s; the sweeper will retry", kind, pk, exc_info=True)


def wake_orchestration(instance_pk: int, hub: str | None = None) -> None:
    """Run an episode of the instance once the current transaction commits.

    ``hub`` is the instance's task hub (default: this process's); its queue gets the message.
    """
    transaction.on_commit(lambda: _send("orchestration", instance_pk, hub))


def start_activity(task_pk: int, hub: str | None = None) -> None:
    """Run the activity task (of ``hub``) once the current transaction commits."""
    transaction.on_commit(lambda: _send("activity", task_pk, hub))
