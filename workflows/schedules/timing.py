"""When a schedule's runs are due: cron (with a time zone) or a fixed interval, pure.

No Django, no database, no clock: every function takes ``now`` or a start time, so the
tests move time by hand. Cron expressions are read by ``cronsim`` (the cron engine of
Healthchecks.io); its DST rule is Debian cron's: a local time skipped by a spring-forward
runs once, at the first valid time after it; a local time repeated by a fall-back runs
once, at its first occurrence.

Example::

    table = timetable(cron="30 2 * * *", timezone="Europe/Berlin")
    table.next_after(datetime(2026, 3, 28, 12, tzinfo=UTC))
    # -> 2026-03-29 01:00 UTC (03:00 local: 02:30 does not exist that day)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from ..engine.errors import InvalidInput

MAX_INTERVAL = 366 * 24 * 3600
MAX_JITTER = 24 * 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ScheduleFieldError(InvalidInput):
    """One field of a schedule is wrong (HTTP 400 naming ``field``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Timetable:
    """Cron in a time zone, or every ``interval`` seconds shifted by ``offset`` (counted
    from 1970-01-01 UTC); only times within [start_at, end_at]."""

    cron: str = ""
    timezone: str = "UTC"
    interval: int = 0
    offset: int = 0
    start_at: datetime | None = None
    end_at: datetime | None = None
    jitter: int = 0

    def _raw_after(self, after: datetime) -> Iterator[datetime]:
        if self.cron:
            local = after.astimezone(ZoneInfo(self.timezone))
            for found in CronSim(self.cron, local):
                yield found.astimezone(UTC)
        else:
            step = self.interval
            k = (after - EPOCH - timedelta(seconds=self.offset)).total_seconds() // step + 1
            at = EPOCH + timedelta(seconds=self.offset + int(k) * step)
            while True:
                yield at
                at += timedelta(seconds=step)

    def times_after(self, after: datetime) -> Iterator[datetime]:
        """Scheduled times strictly after ``after``, in UTC, until ``end_at``."""
        if self.start_at is not None and after < self.start_at:
            after = self.start_at - timedelta(microseconds=1)
        for at in self._raw_after(after):
            if self.end_at is not None and at > self.end_at:
                return
            yield at

    def next_after(self, after: datetime) -> datetime | None:
        return next(iter(self.times_after(after)), None)

    def times_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]:
        """Times in [start, end], at most ``limit`` of them."""
        found: list[datetime] = []
        for at in self.times_after(start - timedelta(microseconds=1)):
            if at > end or len(found) >= limit:
                break
            found.append(at)
        return found

    def delay(self, schedule_id: str, at: datetime) -> timedelta:
        """The jitter of one run: the same on every worker (a hash, not a random draw)."""
        if not self.jitter:
            return timedelta(0)
        digest = hashlib.sha256(f"{schedule_id}@{at.isoformat()}".encode()).digest()
        return timedelta(seconds=int.from_bytes(digest[:8], "big") % (self.jitter + 1))


def check_timezone(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ScheduleFieldError("timezone", f"give an IANA time zone name, got {name!r}.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleFieldError(
            "timezone", f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin'."
        ) from None
    return name


def check_cron(expression: Any) -> str:
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleFieldError("cron", f"give a cron expression, got {expression!r}.")
    try:
        CronSim(expression, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ScheduleFieldError(
            "cron",
            f"invalid cron expression {expression!r} ({exc}); use five fields: minute hour "
            "day-of-month month day-of-week, e.g. '*/5 * * * *'.",
        ) from None
    return expression.strip()


def _seconds(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScheduleFieldError(field, f"give whole seconds from {low} to {high}, got {value!r}.")
    return value


def _aware(field: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ScheduleFieldError(field, f"give a date and time with a UTC offset, got {value!r}.")
    return value.astimezone(UTC)


def timetable(
    *,
    cron: str = "",
    timezone: str = "UTC",
    interval: int | None = None,
    offset: int = 0,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    jitter: int = 0,
) -> Timetable:
    """A checked :class:`Timetable`; ScheduleFieldError names the first wrong field."""
    if bool(cron) == bool(interval):
        raise ScheduleFieldError("cron", "give either a cron expression or an interval.")
    timezone = check_timezone(timezone)
    if cron:
        cron = check_cron(cron)
        offset = _seconds("offset", offset, 0, 0) if offset else 0
    else:
        interval = _seconds("interval", interval, 1, MAX_INTERVAL)
        offset = _seconds("offset", offset, 0, interval - 1)
    start, end = _aware("start_at", start_at), _aware("end_at", end_at)
    if start is not None and end is not None and end <= start:
        raise ScheduleFieldError("end_at", "the end must be after the start.")
    jitter = _seconds("jitter", jitter, 0, MAX_JITTER)
    return Timetable(cron, timezone, interval or 0, offset, start, end, jitter)


def run_instance_id(schedule_id: str, at: datetime, exact: bool = False) -> str:
    """The instance id of the run for ``at``: the same on every worker, so the database's
    unique id refuses a second start. ``exact`` keeps microseconds (trigger now)."""
    stamp = "%Y-%m-%dT%H:%M:%S.%fZ" if exact else "%Y-%m-%dT%H:%M:%SZ"
    return f"{schedule_id}@{at.astimezone(UTC).strftime(stamp)}"
