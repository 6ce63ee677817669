"""DurableClient's schedules (docs/architecture.md, "Schedules").

A mixin of :class:`workflows.client.DurableClient`; callers use
``DurableClient().create_schedule(...)`` like any client method. Who may:
``schedules.manage_schedule`` to change (create, update, delete, pause, resume, trigger,
backfill), ``workflows.view_instance`` to read; ``user=None``/``by=None`` and text actors
("cli") are code in this process.

Example::

    client = DurableClient()
    client.create_schedule("nightly", {"orchestrator": "nightly_cleanup",
                                       "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
                           by=request.user)
    client.pause_schedule("nightly", note="migration tonight", by=request.user)
    client.backfill_schedule("nightly", "2026-01-01T00:00:00Z", "2026-01-07T00:00:00Z")
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..access import may_see_every_instance
from ..engine.errors import NotAllowed
from ..engine.registry import Registry
from . import driver, service
from .driver import DriverReport
from .models import MANAGE
from .service import ScheduleExists, ScheduleNotFound
from .states import RunState, ScheduleState
from .timing import ScheduleFieldError

__all__ = [
    "DriverReport",
    "RunState",
    "ScheduleExists",
    "ScheduleFieldError",
    "ScheduleNotFound",
    "ScheduleOperations",
    "ScheduleState",
    "may_manage_schedules",
]


def _trusted(actor: Any) -> bool:
    return actor is None or isinstance(actor, str)


def may_manage_schedules(user: Any) -> bool:
    """``schedules.manage_schedule`` (code and text actors may)."""
    if _trusted(user):
        return True
    return bool(getattr(user, "is_authenticated", False) and user.has_perm(f"schedules.{MANAGE}"))


def _check_manage(by: Any) -> None:
    if not may_manage_schedules(by):
        raise NotAllowed(
            f"Changing schedules needs the permission schedules.{MANAGE}; ask an administrator."
        )


def _check_read(user: Any) -> None:
    if not _trusted(user) and not may_see_every_instance(user):
        raise NotAllowed("Reading schedules needs the permission workflows.view_instance.")


class ScheduleOperations:
    """Schedules: declared, listed, changed and driven (a DurableClient mixin)."""

    hub: str
    registry: Registry

    def schedules(self, user: Any = None) -> list[ScheduleState]:
        """Every schedule of the hub by id, each with its last three runs."""
        _check_read(user)
        return service.listing(self.hub)

    def schedule(self, schedule_id: str, user: Any = None) -> ScheduleState:
        """One schedule with its next times and last ten runs (ScheduleNotFound: 404)."""
        _check_read(user)
        return service.get(self.hub, schedule_id)

    def create_schedule(
        self, schedule_id: str, spec: Mapping[str, Any], by: Any = None
    ) -> ScheduleState:
        """A new schedule; ``spec`` as in ``schedules/spec.FIELDS`` (ScheduleFieldError
        names a wrong field; ScheduleExists when the id is taken)."""
        _check_manage(by)
        return service.create(self.hub, schedule_id, spec, self.registry, by)

    def update_schedule(
        self, schedule_id: str, changes: Mapping[str, Any], by: Any = None
    ) -> ScheduleState:
        """Change some fields (the others stay)."""
        _check_manage(by)
        return service.update(self.hub, schedule_id, changes, self.registry)

    def delete_schedule(self, schedule_id: str, by: Any = None) -> None:
        """Delete the schedule and its run records (started instances stay)."""
        _check_manage(by)
        service.delete(self.hub, schedule_id)

    def pause_schedule(self, schedule_id: str, note: str = "", by: Any = None) -> ScheduleState:
        """No runs start until resumed; who paused it and the note are shown."""
        _check_manage(by)
        return service.pause(self.hub, schedule_id, by, note)

    def resume_schedule(self, schedule_id: str, note: str = "", by: Any = None) -> ScheduleState:
        """Runs start again from the next time after now."""
        _check_manage(by)
        return service.resume(self.hub, schedule_id, by, note)

    def trigger_schedule(self, schedule_id: str, by: Any = None) -> dict[str, Any]:
        """One run now (by the overlap policy): ``{"outcome", "instance_id", "schedule"}``."""
        _check_manage(by)
        return service.trigger(self.hub, schedule_id, self.registry, by)

    def backfill_schedule(
        self,
        schedule_id: str,
        start: datetime | str,
        end: datetime | str,
        overlap: str | None = None,
        by: Any = None,
    ) -> dict[str, int]:
        """The runs of the past range [start, end]: counts started/skipped/buffered/already."""
        _check_manage(by)
        return service.backfill(self.hub, schedule_id, start, end, self.registry, by, overlap)

    def schedule_of_instance(self, instance_id: str) -> str | None:
        """The schedule that started ``instance_id`` (None if none did)."""
        return service.schedule_of_instance(self.hub, instance_id)

    def run_due_schedules(self, now: datetime | None = None) -> DriverReport:
        """Start what is due now (the driver; the worker's actor calls it)."""
        return driver.run_due(self.hub, now, self.registry)
