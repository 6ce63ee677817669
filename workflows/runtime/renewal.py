"""Keeping leases alive while this process runs tasks, and handing tasks back.

A lease is short (DURABLE_ACTIVITY_LEASE_SECONDS, 30 s by default) so a dead worker's
tasks run again soon; a live worker renews all of its leases in one UPDATE every third
of that, so an activity may run for hours. See docs/architecture.md, "Claims, leases and
batches".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from ..compiled import update_in_pk_order
from ..conf import conf
from ..models import ActivityTask
from ..statuses import TaskStatus
from .dispatch import start_activity
from .leases import holder_names, lease_expiry, process_prefix, worker_name

log = logging.getLogger("workflows.runtime")


def renew_leases() -> int:
    """Push back the lease of every task this process's threads hold; one statement.

    Only current holders: a task whose thread abandoned it (its message failed, e.g. the
    database went away under it) must lapse, or it would stay RUNNING while this process
    lives, with nobody running it (a restart test showed it).
    """
    held = ActivityTask.objects.filter(status=TaskStatus.RUNNING, worker__in=holder_names())
    return update_in_pk_order(held, lease_expires_at=lease_expiry(timezone.now()))


def give_back(task_pks: Iterable[int], *, this_thread: bool = True, ran: bool = False) -> int:
    """Schedule again claimed tasks this thread (or, ``this_thread=False``, this process)
    holds, one message each, so another worker runs them now rather than when their
    leases lapse. Tasks never started (``ran=False``) do not count the run their claim
    counted. Returns how many were given back.
    """
    pks = list(task_pks)
    if not pks:
        return 0
    holder = {"worker": worker_name()} if this_thread else {"worker__startswith": process_prefix()}
    now = timezone.now()
    with transaction.atomic():
        returned = list(
            ActivityTask.objects.filter(pk__in=pks, status=TaskStatus.RUNNING, **holder)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "task_hub", "name")
        )
        ActivityTask.objects.filter(
            pk__in=[pk for pk, _hub, _name in returned], status=TaskStatus.RUNNING
        ).update(
            status=TaskStatus.SCHEDULED,
            runs=F("runs") if ran else F("runs") - 1,
            lease_expires_at=None,
            started_at=None,
            worker="",
            enqueued_at=now,
        )
        for pk, hub, name in returned:
            start_activity(pk, hub, name)
    return len(returned)


def release_leases() -> int:
    """At the end of a shutdown's grace: every task this process still runs is scheduled
    again for another worker (its late result, if any, is ignored: not RUNNING any more)."""
    running = ActivityTask.objects.filter(
        status=TaskStatus.RUNNING, worker__startswith=process_prefix()
    ).values_list("pk", flat=True)
    released = give_back(list(running), this_thread=False, ran=True)
    if released:
        log.warning("shutdown: released %d running task(s) to other workers", released)
    return released


class LeaseKeeper(threading.Thread):
    """Renews this process's leases every third of the lease, until stopped."""

    def __init__(self, interval: float | None = None) -> None:
        super().__init__(name="durable-lease-keeper", daemon=True)
        self.interval = interval or conf.ACTIVITY_LEASE_SECONDS / 3
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                close_old_connections()
                renew_leases()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.warning("could not renew leases; retrying", exc_info=True)
        connection.close()

    def stop(self) -> None:
        self._stop_event.set()
