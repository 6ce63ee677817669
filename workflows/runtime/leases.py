"""Leases on activity tasks: who holds one, until when, and the fields a claim writes.

A claimed task is RUNNING with ``lease_expires_at``; when the lease lapses (the worker
died) the sweeper schedules it again: at least once. See docs/architecture.md, "Claims,
leases and batches".
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, QuerySet

from ..compiled import update_in_pk_order
from ..conf import conf
from ..models import ActivityTask
from ..statuses import TaskStatus


def process_prefix() -> str:
    """The start of every lease holder's name in this process: host and process."""
    global _prefix
    if _prefix is None:  # once per process: gethostname() lets go of the GIL each call
        _prefix = f"{socket.gethostname()}:{os.getpid()}:"
    return _prefix


def _forget_prefix() -> None:
    global _prefix
    _prefix = None


_prefix: str | None = None
os.register_at_fork(after_in_child=_forget_prefix)  # a forked child is another process


_thread = threading.local()
# Each thread's current holder name: the leases the lease keeper renews (renewal.py).
_holders: dict[int, str] = {}


def worker_name() -> str:
    """Who holds a lease: host, process and thread (and the thread's generation, once it
    has abandoned claims)."""
    generation = getattr(_thread, "generation", 0)
    name = process_prefix() + threading.current_thread().name
    name = f"{name}#{generation}" if generation else name
    _holders[threading.get_ident()] = name
    return name


def holder_names() -> list[str]:
    """The names under which threads of this process hold leases now."""
    return list(_holders.values())


def abandon_claims() -> None:
    """This thread stops holding what it claimed without being able to say so (the
    database failed under it mid-way): its tasks keep the old holder name, which nothing
    renews any more, so their leases lapse and the sweeper schedules them again. The
    thread claims under a new name from now on."""
    _thread.generation = getattr(_thread, "generation", 0) + 1
    _holders[threading.get_ident()] = worker_name()


def lease_expiry(now: datetime) -> datetime:
    """When a lease taken at ``now`` lapses (DURABLE_ACTIVITY_LEASE_SECONDS)."""
    return now + timedelta(seconds=conf.ACTIVITY_LEASE_SECONDS)


def running_fields(
    now: datetime, started_at: datetime | None = None, worker: str | None = None
) -> dict[str, Any]:
    """The columns a claim sets on a task it takes (without the ``runs`` increment)."""
    return {
        "status": TaskStatus.RUNNING,
        "lease_expires_at": lease_expiry(now),
        "worker": worker or worker_name(),
        "started_at": started_at or now,
    }


# -- the one claim: every way a task becomes RUNNING goes through here ---------------------
def claim(
    tasks: QuerySet[ActivityTask],
    now: datetime,
    started_at: datetime | None = None,
    worker: str | None = None,
) -> int:
    """Take ``tasks`` (already narrowed to the claimable ones) for this thread (or
    ``worker``, another thread of this process) in one UPDATE; returns how many it took.
    A conditional UPDATE decides races: of two workers claiming the same task, only one
    matches.

    ``started_at`` defaults to ``now``; admission passes a later time (workflows/limits).
    """
    fields = running_fields(now, started_at, worker)
    return update_in_pk_order(tasks, runs=F("runs") + 1, **fields)


def claim_new(task: ActivityTask, now: datetime, worker: str | None = None) -> None:
    """Claim a task not inserted yet, for this thread (or ``worker``, another thread of
    this process) to run right after its commit."""
    task.runs = 1
    for field, value in running_fields(now, worker=worker).items():
        setattr(task, field, value)
