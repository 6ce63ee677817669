"""How much is kept: periodic purge of finished instances, and history size warnings.

* ``DURABLE_RETENTION_DAYS`` (default 0: keep everything): the sweeper deletes
  instances that finished more than that many days ago, with their history, tasks,
  timers and records, at most every ``DURABLE_RETENTION_INTERVAL_SECONDS`` and at
  most ``DURABLE_RETENTION_BATCH`` instances per round. ``durable purge
  --finished-before`` does the same by hand. Their offloaded payloads (objects in the
  payload storage) are deleted once the purge commits, by the ``pre_delete`` receiver in
  ``models.py`` that every ORM delete of an instance runs (docs/architecture.md, "Payloads").
* ``DURABLE_HISTORY_WARNING_EVENTS`` (default 10000, 0 turns it off): an execution
  whose history grows past it logs one warning, and :func:`history_warning` says so
  (the UI shows it). Every episode that misses the worker's cache replays the whole history, so
  loops that run for long should ``ctx.continue_as_new(...)`` now and then.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from .conf import conf
from .logging import log_context
from .models import AuditEntry, Instance
from .statuses import TERMINAL

log = logging.getLogger("workflows.runtime")


# -- retention ---------------------------------------------------------------------
def retention_cutoff(now: datetime | None = None) -> datetime | None:
    """Instances finished before this time are due for purging; None when retention is off."""
    days = conf.RETENTION_DAYS
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def purge_expired(hub: str | None = None, now: datetime | None = None) -> int:
    """Delete one batch of instances finished before the retention cutoff; returns how many.

    Only finished (completed, failed, terminated) instances go; running ones are
    never purged however old. Each round that deletes something leaves an
    AuditEntry (actor "retention").
    """
    hub = hub or conf.TASK_HUB
    cutoff = retention_cutoff(now)
    if cutoff is None:
        return 0
    batch = conf.RETENTION_BATCH
    with transaction.atomic():
        pks = list(
            # inst_completed_idx (task_hub, completed_at)
            Instance.objects.filter(task_hub=hub, status__in=TERMINAL, completed_at__lt=cutoff)
            .order_by("completed_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not pks:
            return 0
        Instance.objects.filter(pk__in=pks, status__in=TERMINAL).delete()
        AuditEntry.objects.create(
            actor="retention",
            action="purge",
            detail={"finished_before": cutoff.isoformat(), "count": len(pks), "hub": hub},
            note=f"DURABLE_RETENTION_DAYS={conf.RETENTION_DAYS:g}",
        )
    log.info("retention purged %d instance(s) finished before %s", len(pks), cutoff.isoformat())
    return len(pks)


class _Throttle:
    """Lets a hub's purge run at most once per interval in this process."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, hub: str, interval: float) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(hub)
            if last is not None and now - last < interval:
                return False
            self._last[hub] = now
            return True


_throttle = _Throttle()


def purge_if_due(hub: str, now: datetime | None = None) -> int:
    """The sweeper's hook: purge a batch when retention is on and the interval has passed."""
    if retention_cutoff(now) is None:
        return 0
    interval = conf.RETENTION_INTERVAL_SECONDS
    if not _throttle.due(hub, interval):
        return 0
    return purge_expired(hub, now)


# -- history size ---------------------------------------------------------------------
def history_threshold() -> int:
    return conf.HISTORY_WARNING_EVENTS


def history_warning(instance: Any) -> str | None:
    """A warning for an instance whose history is long, or None (for the UI).

    ``instance`` is an Instance row or a client InstanceState (``history_length``).

    Example::

        warning = history_warning(client.get_status("order-7"))
        if warning:
            show(warning)
    """
    length = int(getattr(instance, "history_length", 0) or 0)
    threshold = history_threshold()
    if threshold <= 0 or length < threshold:
        return None
    return (
        f"The history of this execution has {length} events (warning threshold "
        f"{threshold}, DURABLE_HISTORY_WARNING_EVENTS). Replaying a long history makes "
        "every uncached episode slower and the database larger: let the orchestrator call "
        "ctx.continue_as_new(state) every so many iterations to start a fresh history."
    )


def note_history_growth(instance: Instance, length_before: int) -> None:
    """Log one warning in the episode where the history crossed the threshold."""
    threshold = history_threshold()
    if threshold > 0 and length_before < threshold <= instance.history_length:
        log.warning(
            "instance %s: %s",
            instance.instance_id,
            history_warning(instance),
            extra=log_context(instance, history_length=instance.history_length),
        )
