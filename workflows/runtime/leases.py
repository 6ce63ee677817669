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

from ..conf import conf
from ..models import ActivityTask
from ..statuses import TaskStatus


def process_prefix() -> str:
    """The start of every lease holder's name in this process: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}:"


def worker_name() -> str:
    """Who holds a lease: host, process and thread."""
    return process_prefix() + threading.current_thread().name


def lease_expiry(now: datetime) -> datetime:
    """When a lease taken at ``now`` lapses (DURABLE_ACTIVITY_LEASE_SECONDS)."""
    return now + timedelta(seconds=conf.ACTIVITY_LEASE_SECONDS)


def running_fields(now: datetime, started_at: datetime | None = None) -> dict[str, Any]:
    """The columns a claim sets on a task it takes (without the ``runs`` increment)."""
    return {
        "status": TaskStatus.RUNNING,
        "lease_expires_at": lease_expiry(now),
        "worker": worker_name(),
        "started_at": started_at or now,
    }


# -- the one claim: every way a task becomes RUNNING goes through here ---------------------
def claim(tasks: QuerySet[ActivityTask], now: datetime, started_at: datetime | None = None) -> int:
    """Take ``tasks`` (already narrowed to the claimable ones) for this thread in one
    UPDATE; returns how many it took. A conditional UPDATE decides races: of two workers
    claiming the same task, only one matches.

    ``started_at`` defaults to ``now``; admission passes a later time (workflows/limits).
    """
    return tasks.update(runs=F("runs") + 1, **running_fields(now, started_at))


def claim_new(task: ActivityTask, now: datetime) -> None:
    """Claim a task not inserted yet, for this thread to run right after its commit."""
    task.runs = 1
    for field, value in running_fields(now).items():
        setattr(task, field, value)
