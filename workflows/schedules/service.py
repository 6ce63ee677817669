"""Changing schedules: create, update, delete, pause, resume, trigger now, backfill
(docs/architecture.md, "Schedules"). Each change locks the schedule row in its
transaction, like the driver, so a change and a claim never interleave. Called by the
client (``schedules/client.py``), which checks who may.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from itertools import islice
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..engine.errors import InstanceNotFound, InvalidState
from ..engine.registry import Registry
from ..models import Instance
from ..rules import MAX_NOTE_LENGTH, check_text
from . import policies
from .driver import place
from .models import RunKind, Schedule, ScheduleRun
from .spec import check_schedule_id, check_spec, spec_of
from .starts import carry_out, timetable_of
from .states import ScheduleState, run_state, schedule_state
from .timing import ScheduleFieldError

MAX_BACKFILL = 1000
RECENT = 10
UPCOMING = 5


class ScheduleNotFound(InstanceNotFound):
    """No schedule with that id in this task hub (HTTP 404)."""

    def __init__(self, schedule_id: Any) -> None:
        self.schedule_id = schedule_id
        Exception.__init__(self, f"No schedule {schedule_id!r} exists (in this task hub).")


class ScheduleExists(InvalidState):
    """A schedule already has that id (HTTP 409)."""


def who(by: Any) -> str:
    if by is None:
        return "code"
    return by if isinstance(by, str) else getattr(by, "username", str(by))


def _get(hub: str, schedule_id: Any, lock: bool = False) -> Schedule:
    rows = Schedule.objects.filter(task_hub=hub, schedule_id=schedule_id)
    schedule = (rows.select_for_update() if lock else rows).first()
    if schedule is None:
        raise ScheduleNotFound(schedule_id)
    return schedule


def state(schedule: Schedule, recent: int = RECENT) -> ScheduleState:
    runs = list(schedule.runs.order_by("-scheduled_at", "-pk")[:recent]) if recent else []
    ids = [run.instance_id for run in runs if run.instance_id]
    statuses = dict(
        Instance.objects.filter(task_hub=schedule.task_hub, instance_id__in=ids).values_list(
            "instance_id", "status"
        )
    )
    upcoming: list[datetime] = []
    if not schedule.paused and schedule.next_run_at is not None:
        table = timetable_of(schedule)
        later = table.times_after(schedule.next_run_at)
        upcoming = [schedule.next_run_at, *islice(later, UPCOMING - 1)]
    return schedule_state(schedule, upcoming, [run_state(run, statuses) for run in runs])


def get(hub: str, schedule_id: str) -> ScheduleState:
    return state(_get(hub, schedule_id))


def listing(hub: str) -> list[ScheduleState]:
    return [
        state(s, recent=3) for s in Schedule.objects.filter(task_hub=hub).order_by("schedule_id")
    ]


def create(
    hub: str, schedule_id: Any, spec: Mapping[str, Any], registry: Registry, by: Any
) -> ScheduleState:
    schedule_id = check_schedule_id(schedule_id)
    columns = check_spec(spec, registry)
    schedule = Schedule(task_hub=hub, schedule_id=schedule_id, created_by=who(by), **columns)
    place(schedule, timezone.now())
    try:
        with transaction.atomic():
            schedule.save()
    except IntegrityError:
        raise ScheduleExists(f"A schedule {schedule_id!r} exists already.") from None
    return state(schedule)


def update(
    hub: str, schedule_id: str, changes: Mapping[str, Any], registry: Registry
) -> ScheduleState:
    """Change fields; the next time is placed again from now when the timetable changed."""
    with transaction.atomic():
        schedule = _get(hub, schedule_id, lock=True)
        columns = check_spec({**spec_of(schedule), **changes}, registry)
        table_before = timetable_of(schedule)
        for column, value in columns.items():
            setattr(schedule, column, value)
        if timetable_of(schedule) != table_before:
            place(schedule, timezone.now())
        schedule.save()
    return state(schedule)


def delete(hub: str, schedule_id: str) -> None:
    """The schedule and its run records; started instances stay."""
    with transaction.atomic():
        _get(hub, schedule_id, lock=True).delete()


def pause(hub: str, schedule_id: str, by: Any, note: str = "") -> ScheduleState:
    note = check_text(note or "", "note", MAX_NOTE_LENGTH)
    with transaction.atomic():
        schedule = _get(hub, schedule_id, lock=True)
        schedule.paused = True
        schedule.paused_by, schedule.paused_note = who(by), note
        schedule.paused_at = timezone.now()
        schedule.save()
    return state(schedule)


def resume(hub: str, schedule_id: str, by: Any, note: str = "") -> ScheduleState:
    """Runs again from now on: times that fell while it was paused are not caught up."""
    note = check_text(note or "", "note", MAX_NOTE_LENGTH)
    with transaction.atomic():
        schedule = _get(hub, schedule_id, lock=True)
        schedule.paused = False
        schedule.paused_by, schedule.paused_at = "", None
        schedule.paused_note = f"resumed by {who(by)}" + (f": {note}" if note else "")
        place(schedule, timezone.now())
        schedule.save()
    return state(schedule)


def trigger(
    hub: str, schedule_id: str, registry: Registry, by: Any, now: datetime | None = None
) -> dict[str, Any]:
    """One run now, by the overlap policy (a paused schedule too: someone asked)."""
    now = now or timezone.now()
    with transaction.atomic():
        schedule = _get(hub, schedule_id, lock=True)
        counts = carry_out(schedule, [now], RunKind.TRIGGER, now, registry, by=by, exact=True)
        schedule.save()
    outcome = next((name for name, n in counts.items() if n), "skipped")
    instance_id = schedule.last_instance_id if outcome == "started" else ""
    return {"outcome": outcome, "instance_id": instance_id, "schedule": state(schedule)}


def backfill(
    hub: str,
    schedule_id: str,
    start: Any,
    end: Any,
    registry: Registry,
    by: Any,
    overlap: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The runs of the times in [start, end] (in the past), by the overlap policy (or
    ``overlap``). Times decided before (started or skipped) are left as they are."""
    now = now or timezone.now()
    start, end = _past("start", start, now), _past("end", end, now)
    if end < start:
        raise ScheduleFieldError("end", "the end must not be before the start.")
    if overlap is not None and overlap not in policies.OVERLAP:
        raise ScheduleFieldError(
            "overlap", f"one of {', '.join(policies.OVERLAP)}; got {overlap!r}."
        )
    with transaction.atomic():
        schedule = _get(hub, schedule_id, lock=True)
        times = timetable_of(schedule).times_between(start, end, MAX_BACKFILL + 1)
        if len(times) > MAX_BACKFILL:
            raise ScheduleFieldError(
                "end", f"the range holds more than {MAX_BACKFILL} runs; backfill it in parts."
            )
        counts = carry_out(schedule, times, RunKind.BACKFILL, now, registry, overlap, by)
        schedule.save()
    decided = sum(counts.values())
    return {**counts, "already": len(times) - decided, "times": len(times)}


def _past(field: str, value: Any, now: datetime) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ScheduleFieldError(field, "give an ISO 8601 date and time with a UTC offset.")
    if value > now:
        raise ScheduleFieldError(field, "a backfill covers the past; use trigger for now.")
    return value


def schedule_of_instance(hub: str, instance_id: str) -> str | None:
    """The id of the schedule that started ``instance_id``, if any."""
    run = (
        ScheduleRun.objects.filter(task_hub=hub, instance_id=instance_id)
        .select_related("schedule")
        .first()
    )
    return run.schedule.schedule_id if run else None
