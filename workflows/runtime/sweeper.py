"""Timer poller and sweeper: fire due timers, time out activities, expire leases, re-send
lost wake-ups.

Runs in every worker process; on PostgreSQL rows are taken with SKIP LOCKED so
several workers share the work without stepping on each other.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone

from ..conf import conf
from ..engine import events as ev
from ..engine.activity import ActivityOutcome
from ..engine.timeouts import ActivityTimeouts, timed_out, which_timed_out
from ..entities.wakeups import wake_stalled as wake_stalled_entities
from ..inbox import deliver
from ..limits import admission
from ..limits.config import limited_names
from ..logging import log_context
from ..models import ActivityTask, BulkOperation, BulkStatus, InboxMessage, Instance, Timer
from ..retention import purge_if_due
from ..schedules.wakeups import wake_due as wake_due_schedules
from ..statuses import OPEN, REPLAY_FAILED, TERMINAL, InstanceStatus, TaskStatus
from . import outcomes
from .bulk_wakeups import resend_stalled as resend_stalled_bulk
from .dispatch import start_activity, wake_orchestration

log = logging.getLogger("workflows.runtime")


def _locked(queryset):  # noqa: ANN001, ANN202 - a queryset in, the same out
    if connection.features.has_select_for_update_skip_locked:
        # Only the rows themselves: a filter's join (a task's instance) must lock nothing.
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def redeliver_after() -> timedelta:
    return timedelta(seconds=conf.REDELIVER_AFTER_SECONDS)


@dataclass
class SweepReport:
    timers_fired: int = 0
    activities_timed_out: int = 0  # running past start_to_close or heartbeat_timeout
    tasks_resent: int = 0
    leases_expired: int = 0
    wakeups_resent: int = 0
    limits_woken: int = 0  # limited activities with room whose wake-up was lost
    purged: int = 0  # finished instances deleted by the retention policy
    bulk_woken: int = 0  # running bulk operations whose wake-up was lost
    schedules_woken: int = 0  # 1 when a schedule was due: the driver was woken
    entities_woken: int = 0  # entities whose operations waited too long, woken again


def _due_timers(hub: str, now: datetime) -> QuerySet[Timer]:
    return Timer.objects.filter(task_hub=hub, fired=False, fire_at__lte=now)


def fire_due_timers(hub: str, now: datetime, batch: int = 200) -> int:
    with transaction.atomic():
        timers = list(_locked(_due_timers(hub, now).order_by("fire_at"))[:batch])
        for timer in timers:
            timer.fired = True
            instance = Instance(pk=timer.instance_id, task_hub=hub)
            deliver(
                instance,
                ev.TimerFired(timer.task_id, timer.fire_at),
                dedup_key=f"timer:{timer.execution_id}:{timer.task_id}",
                execution_id=timer.execution_id,
            )
        Timer.objects.bulk_update(timers, ["fired"])
    return len(timers)


# Re-sends of one task wait redeliver_after() x 1, 2, 4, ... up to this factor.
MAX_RESEND_BACKOFF = 64
# A task of an instance that is still moving waits at most this many times as long.
QUIET_WAIT_CAP = 12


def resend_lost_tasks(hub: str, now: datetime, batch: int = 500) -> int:
    """Send again the messages of scheduled tasks nobody claimed for a while.

    A lost message (a broker restarted without persistence) is re-sent after
    DURABLE_REDELIVER_AFTER_SECONDS. A task that is only queued behind a large backlog
    looks the same from here, so: while its instance is still moving (an episode within
    that time: its other tasks' results keep arriving) it is left alone, for at most
    QUIET_WAIT_CAP times that long; and each further resend waits twice as long.
    """
    quiet = Q(instance__updated_at__lt=now - redeliver_after()) | Q(
        enqueued_at__lt=now - redeliver_after() * QUIET_WAIT_CAP
    )
    lost = ActivityTask.objects.filter(task_hub=hub, status=TaskStatus.SCHEDULED).filter(
        _unclaimed_for_long(now), quiet
    )
    limited = limited_names()
    if limited:  # they wait their turn, scheduled: admission.sweep wakes them when room is left
        lost = lost.exclude(name__in=limited)
    with transaction.atomic():
        tasks = list(_locked(lost.order_by("enqueued_at"))[:batch])
        for task in tasks:
            task.enqueued_at = now
            task.resends += 1
            start_activity(task.pk, hub, task.name)
        ActivityTask.objects.bulk_update(tasks, ["enqueued_at", "resends"])
    return len(tasks)


def _unclaimed_for_long(now: datetime) -> Q:
    """enqueued_at older than redeliver_after() x 2**resends, as portable conditions."""
    wait, factor, resends = redeliver_after(), 1, 0
    condition = Q()
    while factor < MAX_RESEND_BACKOFF:
        condition |= Q(resends=resends, enqueued_at__lt=now - wait * factor)
        factor, resends = factor * 2, resends + 1
    return condition | Q(resends__gte=resends, enqueued_at__lt=now - wait * factor)


def _overdue(now: datetime) -> Q:
    """Running tasks past a deadline: ``started_at + start_to_close``, or the later of
    ``started_at`` and ``heartbeat_at`` plus ``heartbeat_timeout`` (engine/timeouts.py)."""
    past_start_to_close = Q(start_to_close__isnull=False, started_at__lt=now - F("start_to_close"))
    silent = Q(heartbeat_timeout__isnull=False, started_at__lt=now - F("heartbeat_timeout")) & (
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - F("heartbeat_timeout"))
    )
    return past_start_to_close | silent


def _seconds(duration: timedelta | None) -> float | None:
    return None if duration is None else duration.total_seconds()


def time_out_activities(hub: str, now: datetime, batch: int = 200) -> int:
    """Running tasks past their ``start_to_close`` or ``heartbeat_timeout`` (hung, though
    their worker is alive and renews the lease) fail with ActivityTimedOut: one query
    finds them, runtime/outcomes records the failures (only of tasks still RUNNING) and
    their instances are woken; the retry policy decides what follows. A late result or
    heartbeat of such a run finds the task no longer RUNNING: ignored, and cancelled."""
    with transaction.atomic():
        tasks = list(
            _locked(
                ActivityTask.objects.filter(task_hub=hub, status=TaskStatus.RUNNING)
                .filter(_overdue(now))
                .select_related("instance")
                .order_by("pk")
            )[:batch]
        )
        results = []
        for task in tasks:
            limits = ActivityTimeouts(
                _seconds(task.start_to_close), _seconds(task.heartbeat_timeout)
            )
            which = which_timed_out(limits, now, task.started_at, task.heartbeat_at)
            if which is None:  # the database's arithmetic and ours disagree: next round
                continue
            log.warning(
                "activity %s (task %s) timed out: %s passed; the attempt fails",
                task.name,
                task.pk,
                which,
                extra=log_context(task.instance, activity=task.name, task_id=task.task_id),
            )
            failure = timed_out(task.name, which, limits)
            results.append((task, ActivityOutcome(False, failure=failure)))
        recorded = outcomes.record(results) if results else []
        if recorded:
            outcomes.to_inbox(recorded)
            for instance_pk in sorted({task.instance_id for task, _outcome in recorded}):
                wake_orchestration(instance_pk, hub)
    return len(recorded)


def expire_leases(hub: str, now: datetime, batch: int = 500) -> int:
    """A running task whose worker died is put back to be run again (at-least-once)."""
    with transaction.atomic():
        tasks = list(
            _locked(
                ActivityTask.objects.filter(
                    task_hub=hub, status=TaskStatus.RUNNING, lease_expires_at__lt=now
                )
            )[:batch]
        )
        owners = Instance.objects.in_bulk({task.instance_id for task in tasks})
        for task in tasks:
            log.warning(
                "lease of activity task %s (%s) expired; running it again",
                task.pk,
                task.name,
                extra=log_context(owners.get(task.instance_id), activity=task.name),
            )
            task.status = TaskStatus.SCHEDULED
            task.lease_expires_at = None
            task.enqueued_at = now
            start_activity(task.pk, hub, task.name)
        ActivityTask.objects.bulk_update(tasks, ["status", "lease_expires_at", "enqueued_at"])
    return len(tasks)


def resend_lost_wakeups(hub: str, now: datetime, batch: int = 500) -> int:
    cutoff = now - redeliver_after()
    # An instance whose replay failed keeps its inbox for an operator's retry (after a
    # fix is deployed): waking it again would only fail the same way, an error logged
    # every few seconds for as long as it waits (docs/architecture.md, "Sweeper").
    waiting = (
        InboxMessage.objects.filter(instance__task_hub=hub)
        .exclude(instance__status__in=[*TERMINAL, InstanceStatus.SUSPENDED])
        .exclude(
            instance__needs_attention=True,
            instance__attention_reason__startswith=REPLAY_FAILED,
        )
        .values("instance_id")
        .annotate(oldest=Min("created_at"))
        .filter(oldest__lt=cutoff)
    )
    pks = [row["instance_id"] for row in waiting[:batch]]
    if not pks:
        return 0
    with transaction.atomic():
        instances = list(
            _locked(
                Instance.objects.filter(pk__in=pks).filter(
                    Q(woken_at__isnull=True) | Q(woken_at__lt=cutoff)
                )
            )
        )
        for instance in instances:
            instance.woken_at = now
            wake_orchestration(instance.pk, hub)
        Instance.objects.bulk_update(instances, ["woken_at"])
    return len(instances)


def candidates(hub: str, now: datetime) -> dict[str, bool]:
    """Which sweeps can find anything this round, in one query: due timers; open tasks
    (what timeouts, lease expiry, lost messages and limits look through); inbox messages
    older than the redelivery wait; running bulk operations. Each condition holds
    whenever its sweeps' own does, so a sweep skipped on it would have found nothing: an
    idle worker's round is three queries instead of 18 (docs/architecture.md, "Sweeper").
    """
    cutoff = now - redeliver_after()
    kinds = {
        "timers": _due_timers(hub, now),
        "tasks": ActivityTask.objects.filter(task_hub=hub, status__in=OPEN),
        "inbox": InboxMessage.objects.filter(instance__task_hub=hub, created_at__lt=cutoff),
        "bulk": BulkOperation.objects.filter(task_hub=hub, status=BulkStatus.RUNNING),
    }
    parts, params = [], []
    for queryset in kinds.values():
        sql, values = queryset.values("pk")[:1].query.sql_with_params()
        parts.append(f"EXISTS ({sql})")
        params.extend(values)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        found = cursor.fetchone()
    return {kind: bool(value) for kind, value in zip(kinds, found, strict=True)}


def sweep_once(hub: str | None = None, now: datetime | None = None) -> SweepReport:
    """One round of every sweep, in order; ``now`` (tests) defaults to the current time."""
    hub = hub or conf.TASK_HUB
    now = now or timezone.now()
    due = candidates(hub, now)
    tasks = due["tasks"]
    return SweepReport(
        timers_fired=fire_due_timers(hub, now) if due["timers"] else 0,
        # before lease expiry: a task past its deadline fails rather than running again
        activities_timed_out=time_out_activities(hub, now) if tasks else 0,
        leases_expired=expire_leases(hub, now) if tasks else 0,
        tasks_resent=resend_lost_tasks(hub, now) if tasks else 0,
        wakeups_resent=resend_lost_wakeups(hub, now) if due["inbox"] else 0,
        limits_woken=admission.sweep(hub, now) if tasks else 0,
        purged=purge_if_due(hub, now),
        bulk_woken=resend_stalled_bulk(hub, now) if due["bulk"] else 0,
        schedules_woken=wake_due_schedules(hub, now),
        entities_woken=wake_stalled_entities(hub, now),
    )


class Sweeper(threading.Thread):
    """Background loop calling :func:`sweep_once` every ``interval`` seconds."""

    def __init__(self, interval: float | None = None, hub: str | None = None) -> None:
        super().__init__(name="durable-sweeper", daemon=True)
        self.interval = interval or conf.SWEEP_INTERVAL_SECONDS
        self.hub = hub or conf.TASK_HUB
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                close_old_connections()
                sweep_once(self.hub)
            except Exception:  # noqa: BLE001 - keep sweeping; the next round retries
                log.exception("sweeper round failed")
            finally:
                close_old_connections()
            self._stop_event.wait(self.interval)
        connection.close()

    def stop(self) -> None:
        self._stop_event.set()
