"""Carrying out one schedule's steps under its row lock: start a run, skip it, buffer it,
cancel or terminate the previous run (docs/architecture.md, "Schedules").

A start is one savepoint holding two inserts, each under a unique key: the
``ScheduleRun`` (schedule, scheduled time) and the instance (hub, id derived from the
schedule id and the time: ``timing.run_instance_id``). Whoever inserts second (another
worker that claimed the same time, a trigger racing the driver, a crash's retry) gets an
IntegrityError, rolls its savepoint back and starts nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from ..engine import events as ev
from ..engine.registry import Registry
from ..inbox import create_instance, deliver
from ..models import AuditEntry, ExternalEvent, Instance
from ..recovery import terminate_instance
from ..statuses import TERMINAL, EventOutcome
from . import policies
from .models import RunOutcome, Schedule, ScheduleRun
from .timing import Timetable, run_instance_id

log = logging.getLogger("workflows.schedules")

# The event a cancel_previous overlap sends the previous run (a cooperative request: an
# orchestrator may wait for it and wind down; one that ignores it runs on).
CANCEL_EVENT = "schedule_cancel"


def timetable_of(schedule: Schedule) -> Timetable:
    return Timetable(
        schedule.cron,
        schedule.timezone,
        schedule.interval_seconds,
        schedule.offset_seconds,
        schedule.start_at,
        schedule.end_at,
        schedule.jitter_seconds,
    )


def actor_of(schedule: Schedule) -> str:
    return f"schedule:{schedule.schedule_id}"


def previous_running(schedule: Schedule) -> Instance | None:
    """The schedule's last started instance if it is still active."""
    if not schedule.last_instance_id:
        return None
    return (
        Instance.objects.filter(task_hub=schedule.task_hub, instance_id=schedule.last_instance_id)
        .exclude(status__in=TERMINAL)
        .first()
    )


def _input(schedule: Schedule, at: datetime) -> Any:
    if not schedule.pass_scheduled_time:
        return schedule.input
    return {**(schedule.input or {}), "scheduled_at": at.isoformat().replace("+00:00", "Z")}


def start_run(
    schedule: Schedule,
    at: datetime,
    kind: str,
    now: datetime,
    registry: Registry,
    by: Any = None,
    exact: bool = False,
) -> ScheduleRun | None:
    """Start the run for ``at``; None when that time was decided already (nothing done).

    UnknownOrchestratorError when this process does not know the orchestrator (version).
    """
    definition = registry.get_orchestrator(schedule.orchestrator, schedule.version)
    instance_id = run_instance_id(schedule.schedule_id, at, exact)
    try:
        with transaction.atomic():
            run = ScheduleRun.objects.create(
                schedule=schedule,
                task_hub=schedule.task_hub,
                scheduled_at=at,
                kind=kind,
                outcome=RunOutcome.STARTED,
                instance_id=instance_id,
                decided_at=now,
                by=by if getattr(by, "is_authenticated", False) else None,
            )
            create_instance(
                hub=schedule.task_hub,
                instance_id=instance_id,
                name=definition.name,
                version=definition.version,
                input=_input(schedule, at),
            )
    except IntegrityError:
        log.info("schedule %s: the run for %s was started already", schedule.schedule_id, at)
        return None
    schedule.last_instance_id = instance_id
    schedule.started += 1
    if now - at > policies.GRACE + timetable_of(schedule).delay(schedule.schedule_id, at):
        schedule.late_starts += 1
    return run


def skip_run(schedule: Schedule, at: datetime, kind: str, now: datetime, reason: str) -> bool:
    """Record ``at`` as skipped by the overlap policy (False if decided already)."""
    try:
        with transaction.atomic():
            ScheduleRun.objects.create(
                schedule=schedule,
                task_hub=schedule.task_hub,
                scheduled_at=at,
                kind=kind,
                outcome=RunOutcome.SKIPPED,
                reason=reason,
                decided_at=now,
            )
    except IntegrityError:
        return False
    schedule.skipped += 1
    return True


def end_previous(schedule: Schedule, how: str, at: datetime, now: datetime) -> None:
    """cancel_previous: send the running previous run CANCEL_EVENT; terminate_previous:
    terminate it (audited as done by the schedule)."""
    instance = previous_running(schedule)
    if instance is None:
        return
    instance = Instance.objects.select_for_update(no_key=True).get(pk=instance.pk)
    if instance.status in TERMINAL:
        return
    stamp = at.isoformat().replace("+00:00", "Z")
    reason = f"schedule {schedule.schedule_id}: the run for {stamp} replaces it"
    if how == policies.TERMINATE_PREVIOUS:
        terminate_instance(instance, reason, now)
        AuditEntry.objects.create(
            instance=instance,
            instance_ref=instance.instance_id,
            actor=actor_of(schedule),
            action="terminate",
            note=reason,
            detail={"schedule": schedule.schedule_id},
        )
        return
    data = {"schedule": schedule.schedule_id, "next_scheduled_at": stamp}
    ExternalEvent.objects.create(
        instance=instance,
        name=CANCEL_EVENT,
        data=data,
        sender=actor_of(schedule),
        outcome=EventOutcome.DELIVERED,
    )
    deliver(instance, ev.EventRaised(CANCEL_EVENT, data, None))


def carry_out(
    schedule: Schedule,
    times: list[datetime],
    kind: str,
    now: datetime,
    registry: Registry,
    overlap: str | None = None,
    by: Any = None,
    exact: bool = False,
) -> dict[str, int]:
    """Decide ``times`` by the overlap policy and carry each step out; returns counts."""
    steps = policies.plan(
        times,
        overlap or schedule.overlap,
        previous_running=previous_running(schedule) is not None,
        buffered=schedule.buffered_at is not None,
    )
    counts = {"started": 0, "skipped": 0, "buffered": 0}
    for step in steps:
        if step.action == policies.START:
            if step.previous:
                end_previous(schedule, step.previous, step.at, now)
            if start_run(schedule, step.at, kind, now, registry, by, exact) is not None:
                counts["started"] += 1
        elif step.action == policies.BUFFER:
            schedule.buffered_at = step.at
            counts["buffered"] += 1
        elif skip_run(schedule, step.at, kind, now, "the previous run was still going"):
            counts["skipped"] += 1
    return counts
