"""The driver: due schedules claimed from the database and their runs started
(docs/architecture.md, "Schedules").

``run_due`` takes one due schedule at a time, each in its own transaction, with ``SELECT
... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's IMMEDIATE transactions serialize
writers), so several workers share schedules without waiting on each other. Under the
lock it lists the times due since ``next_run_at``, lets the catch-up policy pick those that
run (the rest are *missed*), the overlap policy decide each (``starts.carry_out``), and
moves ``next_run_at`` on: all in that one transaction, so a crash changes nothing and the
times are decided again by the next claim. ``now`` is a parameter: tests move the clock.

Example::

    run_due("default", now=timezone.now())
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..engine import UnknownOrchestratorError, default_registry
from ..engine.registry import Registry
from . import policies
from .models import RunKind, Schedule
from .spec import check_spec, declared_spec
from .starts import carry_out, previous_running, start_run, timetable_of
from .timing import ScheduleFieldError

log = logging.getLogger("workflows.schedules")

# Due times listed one by one per claim; a schedule further behind skips to its window.
MAX_LISTED = 5000


@dataclass
class DriverReport:
    claimed: int = 0
    started: int = 0
    skipped: int = 0
    buffered: int = 0
    missed: int = 0


def place(schedule: Schedule, after: datetime) -> None:
    """Set the next time strictly after ``after`` (and when it is due, with its jitter)."""
    table = timetable_of(schedule)
    at = table.next_after(after)
    schedule.next_run_at = at
    schedule.next_due_at = None if at is None else at + table.delay(schedule.schedule_id, at)


def due_times(schedule: Schedule, now: datetime) -> tuple[list[datetime], int]:
    """Times due by ``now`` from ``next_run_at`` on (oldest first), and how many were passed
    over unlisted (further behind than MAX_LISTED times: counted as missed)."""
    table = timetable_of(schedule)
    window = timedelta(seconds=schedule.catchup_window_seconds) + policies.GRACE
    due: list[datetime] = []
    passed = 0
    at = schedule.next_run_at
    while at is not None and at + table.delay(schedule.schedule_id, at) <= now:
        due.append(at)
        if len(due) >= MAX_LISTED:
            passed += len(due)
            due = []
            at = table.next_after(max(at, now - window))
            continue
        at = table.next_after(at)
    schedule.next_run_at = at
    schedule.next_due_at = None if at is None else at + table.delay(schedule.schedule_id, at)
    return due, passed


def advance(schedule: Schedule, now: datetime, registry: Registry) -> DriverReport:
    """Everything due for one schedule, under its row lock (the caller's transaction)."""
    report = DriverReport(claimed=1)
    if schedule.buffered_at is not None and previous_running(schedule) is None:
        buffered, schedule.buffered_at = schedule.buffered_at, None
        if start_run(schedule, buffered, RunKind.BUFFERED, now, registry) is not None:
            report.started += 1
    due, passed = due_times(schedule, now)
    window = timedelta(seconds=schedule.catchup_window_seconds)
    run, missed = policies.catch_up(due, now, schedule.catchup, window)
    on_time = [at for at in run if now - at <= policies.GRACE]
    late = [at for at in run if now - at > policies.GRACE]
    for kind, times in ((RunKind.CATCHUP, late), (RunKind.SCHEDULED, on_time)):
        if times:
            counts = carry_out(schedule, times, kind, now, registry)
            report.started += counts["started"]
            report.skipped += counts["skipped"]
            report.buffered += counts["buffered"]
    report.missed = missed + passed
    schedule.missed += report.missed
    if report.missed:
        log.warning(
            "schedule %s: %d run(s) missed (catch-up policy %s)",
            schedule.schedule_id,
            report.missed,
            schedule.catchup,
        )
    schedule.last_error = ""
    schedule.save()
    return report


def _claimable(hub: str, now: datetime, passed_over: set[int]):  # noqa: ANN202 - a queryset
    due = Schedule.objects.due(hub, now).exclude(pk__in=passed_over).order_by("next_due_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        return due.select_for_update(skip_locked=True, of=("self",))
    return due


def run_due(
    hub: str, now: datetime | None = None, registry: Registry | None = None, limit: int = 100
) -> DriverReport:
    """Advance up to ``limit`` due schedules of ``hub``, one transaction each."""
    now = now or timezone.now()
    registry = registry or default_registry
    sync_declared(hub, registry, now)
    total = DriverReport()
    passed_over: set[int] = set()
    for _ in range(limit):
        with transaction.atomic():
            schedule = _claimable(hub, now, passed_over).first()
            if schedule is None:
                break
            passed_over.add(schedule.pk)
            try:
                with transaction.atomic():
                    report = advance(schedule, now, registry)
            except UnknownOrchestratorError as exc:
                # Another deployment's worker may know it; the time stays due.
                log.warning("schedule %s cannot start: %s", schedule.schedule_id, exc)
                Schedule.objects.filter(pk=schedule.pk).update(last_error=str(exc)[:1000])
                continue
        for name in ("claimed", "started", "skipped", "buffered", "missed"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
    return total


def sync_declared(hub: str, registry: Registry, now: datetime) -> None:
    """Keep the schedules declared in code (``@orchestrator(schedule=...)``) in the
    database: id = the orchestrator's name, source "code". Created when missing; a
    changed declaration updates the timetable and policies (pause state and counts stay);
    a schedule made through the API under that id is left alone. One SELECT when nothing
    changed."""
    declared = registry.declared_schedules()
    if not declared:
        return
    existing = {
        s.schedule_id: s for s in Schedule.objects.filter(task_hub=hub, schedule_id__in=declared)
    }
    for name, schedule_spec in declared.items():
        try:
            columns = check_spec(declared_spec(name, schedule_spec), registry)
        except ScheduleFieldError as exc:
            log.error("@orchestrator(name=%r, schedule=...) is not a valid schedule: %s", name, exc)
            continue
        schedule = existing.get(name)
        if schedule is not None and (
            schedule.source != "code"
            or all(getattr(schedule, column) == value for column, value in columns.items())
        ):
            continue
        with transaction.atomic():
            schedule = (
                Schedule.objects.select_for_update().filter(task_hub=hub, schedule_id=name).first()
            )
            if schedule is None:
                schedule = Schedule(
                    task_hub=hub, schedule_id=name, source="code", created_by="code"
                )
            elif schedule.source != "code":
                continue
            for column, value in columns.items():
                setattr(schedule, column, value)
            place(schedule, now)
            try:
                with transaction.atomic():
                    schedule.save()
            except IntegrityError:  # another worker wrote it down first
                continue
