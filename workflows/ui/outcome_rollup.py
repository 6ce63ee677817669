"""The dashboard's outcome chart from a rollup of closed buckets (issue 17, target 6).

Counting every completed and failed instance of the chart's range from
``inst_completed_idx`` grows with the traffic: 14 days at 10 M instances took ~560 ms per
request. Here an hour or a day that ended more than :data:`CLOSE_AFTER` ago is *closed*:
it is counted once, with a query bounded to its range, stored as an
:class:`~workflows.models.OutcomeBucket`, and read back by every later request. Only what
is still open is counted live: the current hour (and the one before it during the first
:data:`CLOSE_AFTER` of an hour). An open day is its closed hours from the hour rollup plus
its open hours counted live, so a request counts at most about an hour of completions,
whatever the range or the size of the table.

The stored buckets record what finished then: a later purge (retention), rewind or
restart of those instances does not change them (docs/architecture.md, "Observability").
Unlike ``queries.py`` this module writes, but only these derived figures; the durable
state still changes through ``DurableClient`` alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from django.db.models import Count
from django.db.models.functions import Trunc
from django.utils import timezone

from workflows.models import Instance, OutcomeBucket
from workflows.statuses import InstanceStatus

Unit = Literal["hour", "day"]
Counts = dict[datetime, tuple[int, int]]  # bucket start -> (completed, failed)

# A bucket is stored once and never recounted, so it waits this long after its end before
# it is: an instance's completed_at is the time its episode took on the worker's clock,
# before its transaction committed, so a row can become visible a little after its bucket
# ended (a long episode, a slow commit, a worker's clock behind this process's). One that
# commits later than this into an older bucket is missing from the chart (not from the
# lists); a longer wait costs nothing but a second bucket counted live per request.
CLOSE_AFTER = timedelta(minutes=5)

STEP: dict[Unit, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_ENDED = [InstanceStatus.COMPLETED, InstanceStatus.FAILED]


def bucket_starts(unit: Unit, count: int, now: datetime) -> list[datetime]:
    """The first moments of the last ``count`` hours or days up to ``now``, oldest first, in
    the current time zone (as ``Trunc`` gives them).

    Example::

        bucket_starts("day", 2, now)  # [yesterday 00:00, today 00:00]
    """
    last = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        last = last.replace(hour=0)
    return [last - STEP[unit] * i for i in reversed(range(count))]


def outcome_counts(
    hub: str, unit: Unit, count: int, now: datetime | None = None
) -> list[tuple[datetime, int, int]]:
    """(start, completed, failed) of the last ``count`` hours or days, oldest first, empty
    ones included: closed buckets from the rollup (counted and stored the first time they
    are asked for), open ones counted live.

    Example::

        outcome_counts("default", "hour", 24)[-1]  # (this hour's start, 12, 1)
    """
    now = now or timezone.now()
    starts = bucket_starts(unit, count, now)
    closed = [s for s in starts if _is_closed(s, unit, now)]  # a prefix: ends grow
    found = _closed_counts(hub, unit, closed)
    still_open = starts[len(closed) :]
    if still_open:
        found.update(_open_counts(hub, unit, still_open, now))
    return [(s, *found.get(s, (0, 0))) for s in starts]


def _is_closed(start: datetime, unit: Unit, now: datetime) -> bool:
    return start + STEP[unit] <= now - CLOSE_AFTER


def _closed_counts(hub: str, unit: Unit, starts: list[datetime]) -> Counts:
    """The closed buckets ``starts`` (ascending): stored ones read, missing ones counted
    with one range query and stored."""
    if not starts:
        return {}
    found = stored(hub, unit, starts[0], starts[-1])
    missing = [s for s in starts if s not in found]
    if missing:
        counted = _count(hub, unit, missing[0], missing[-1] + STEP[unit])
        new = {s: counted.get(s, (0, 0)) for s in missing}  # empty buckets are stored too
        # Two requests may count the same bucket at once: the second insert does nothing
        # (ON CONFLICT DO NOTHING / INSERT OR IGNORE), both show the same figures.
        OutcomeBucket.objects.bulk_create(
            [
                OutcomeBucket(task_hub=hub, unit=unit, start=s, completed=c, failed=f)
                for s, (c, f) in new.items()
            ],
            ignore_conflicts=True,
        )
        found.update(new)
    # Only the buckets asked for: others in the range (stored under another time zone, whose
    # hours or days start at other moments) must not be added to an open day.
    return {s: found[s] for s in starts}


def stored(hub: str, unit: Unit, first: datetime, last: datetime) -> Counts:
    """Stored buckets starting from ``first`` to ``last`` (both included)."""
    rows = OutcomeBucket.objects.filter(  # uniq_outcome_bucket (task_hub, unit, start)
        task_hub=hub, unit=unit, start__gte=first, start__lte=last
    ).values_list("start", "completed", "failed")
    return {start: (completed, failed) for start, completed, failed in rows}


def _open_counts(hub: str, unit: Unit, starts: list[datetime], now: datetime) -> Counts:
    """The open buckets ``starts`` (ascending, the last is the current one)."""
    if unit == "hour":
        return _count(hub, "hour", starts[0], None)
    # An open day: its closed hours from the hour rollup (the 24-hour chart shares them),
    # only the rest counted live.
    hours, hour = [], starts[0]
    while _is_closed(hour, "hour", now):
        hours.append(hour)
        hour += STEP["hour"]
    closed_hours = _closed_counts(hub, "hour", hours)
    found = _count(hub, "day", hour, None)  # from the first open hour on
    for day in starts:
        end = day + STEP["day"]
        for start, (c, f) in closed_hours.items():
            if day <= start < end:
                completed, failed = found.get(day, (0, 0))
                found[day] = (completed + c, failed + f)
    return found


def _count(hub: str, unit: Unit, since: datetime, until: datetime | None) -> Counts:
    """Completed and failed instances per ``unit`` that finished from ``since`` (until
    ``until``, excluded): one range read of inst_completed_idx, index only."""
    rows = Instance.objects.filter(task_hub=hub, completed_at__gte=since, status__in=_ENDED)
    if until is not None:
        rows = rows.filter(completed_at__lt=until)
    grouped = (
        rows.annotate(bucket=Trunc("completed_at", unit))
        .order_by()
        .values_list("bucket", "status")
        .annotate(n=Count("status"))  # not pk: the index holds status, not id
    )
    found: Counts = {}
    for bucket, status, n in grouped:
        completed, failed = found.get(bucket, (0, 0))
        if status == InstanceStatus.COMPLETED:
            completed += n
        else:
            failed += n
        found[bucket] = (completed, failed)
    return found
