"""What the client returns about schedules: frozen snapshots, no model rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .models import Schedule, ScheduleRun
from .spec import spec_of


@dataclass(frozen=True)
class RunState:
    scheduled_at: datetime
    kind: str
    outcome: str
    instance_id: str
    reason: str
    decided_at: datetime
    status: str = ""  # the instance's status now ("" when skipped or purged)


@dataclass(frozen=True)
class ScheduleState:
    id: str
    orchestrator: str
    version: int | None
    spec: dict[str, Any]
    source: str
    paused: bool
    paused_by: str
    paused_note: str
    paused_at: datetime | None
    next_run_at: datetime | None
    upcoming: list[datetime]
    buffered_at: datetime | None
    started: int
    skipped: int
    missed: int
    late_starts: int
    last_error: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    recent: list[RunState]


def run_state(run: ScheduleRun, statuses: dict[str, str]) -> RunState:
    return RunState(
        run.scheduled_at,
        run.kind,
        run.outcome,
        run.instance_id,
        run.reason,
        run.decided_at,
        statuses.get(run.instance_id, ""),
    )


def schedule_state(
    schedule: Schedule, upcoming: list[datetime], recent: list[RunState]
) -> ScheduleState:
    return ScheduleState(
        id=schedule.schedule_id,
        orchestrator=schedule.orchestrator,
        version=schedule.version,
        spec=spec_of(schedule),
        source=schedule.source,
        paused=schedule.paused,
        paused_by=schedule.paused_by,
        paused_note=schedule.paused_note,
        paused_at=schedule.paused_at,
        next_run_at=None if schedule.paused else schedule.next_run_at,
        upcoming=upcoming,
        buffered_at=schedule.buffered_at,
        started=schedule.started,
        skipped=schedule.skipped,
        missed=schedule.missed,
        late_starts=schedule.late_starts,
        last_error=schedule.last_error,
        created_by=schedule.created_by,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
        recent=recent,
    )
