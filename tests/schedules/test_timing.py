"""The time arithmetic of schedules, pure (no database): cron in a time zone across DST,
intervals with an offset, start/end, jitter, and the refusals naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.schedules.timing import ScheduleFieldError, run_instance_id, timetable

BERLIN = ZoneInfo("Europe/Berlin")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def runs_on(table, day: datetime) -> list[datetime]:
    start = day.replace(hour=0, minute=0)
    return table.times_between(start, start + timedelta(days=1) - timedelta(seconds=1), 10)


def test_daily_0230_in_berlin_runs_once_on_the_spring_forward_day():
    table = timetable(cron="30 2 * * *", timezone="Europe/Berlin")
    runs = runs_on(table, local(2026, 3, 29))  # 02:00 -> 03:00: 02:30 does not exist
    assert len(runs) == 1
    assert runs[0].astimezone(BERLIN).strftime("%H:%M %z") == "03:00 +0200"
    # the days around it run at 02:30 local time
    assert [r.astimezone(BERLIN).hour for r in runs_on(table, local(2026, 3, 28))] == [2]
    assert [r.astimezone(BERLIN).hour for r in runs_on(table, local(2026, 3, 30))] == [2]


def test_daily_0230_in_berlin_runs_once_on_the_fall_back_day():
    table = timetable(cron="30 2 * * *", timezone="Europe/Berlin")
    runs = runs_on(table, local(2026, 10, 25))  # 03:00 -> 02:00: 02:30 happens twice
    assert len(runs) == 1
    assert runs[0] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (CEST)
    nxt = table.next_after(runs[0])
    assert nxt == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # next day, 02:30 CET


def test_an_hourly_cron_keeps_both_hours_of_the_fall_back_night():
    table = timetable(cron="0 * * * *", timezone="Europe/Berlin")
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)
    runs = table.times_between(start, start + timedelta(hours=5), 10)
    assert [r - start for r in runs] == [timedelta(hours=h) for h in range(6)]


def test_interval_with_offset_counts_from_the_epoch():
    table = timetable(interval=3600, offset=900)
    at = table.next_after(datetime(2026, 1, 1, 10, 20, tzinfo=UTC))
    assert at == datetime(2026, 1, 1, 11, 15, tzinfo=UTC)
    assert table.next_after(at) == at + timedelta(hours=1)


def test_start_and_end_bound_the_times():
    start = datetime(2026, 1, 5, tzinfo=UTC)
    end = datetime(2026, 1, 7, 12, tzinfo=UTC)
    table = timetable(cron="0 0 * * *", start_at=start, end_at=end)
    assert table.times_between(datetime(2026, 1, 1, tzinfo=UTC), end, 10) == [
        start,
        start + timedelta(days=1),
        start + timedelta(days=2),
    ]
    assert table.next_after(end) is None


def test_jitter_is_the_same_on_every_worker_and_within_bounds():
    table = timetable(cron="* * * * *", jitter=30)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    delays = {table.delay("s", at + timedelta(minutes=n)) for n in range(50)}
    assert all(timedelta(0) <= d <= timedelta(seconds=30) for d in delays)
    assert len(delays) > 5  # spread, not one value
    assert table.delay("s", at) == timetable(cron="* * * * *", jitter=30).delay("s", at)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({}, "cron"),
        ({"cron": "* * * * *", "interval": 60}, "cron"),
        ({"interval": 0}, "cron"),
        ({"interval": -5}, "interval"),
        ({"interval": 60, "offset": 60}, "offset"),
        ({"cron": "* * * * *", "jitter": -1}, "jitter"),
        (
            {
                "cron": "* * * * *",
                "start_at": datetime(2026, 2, 1, tzinfo=UTC),
                "end_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "end_at",
        ),
        ({"cron": "* * * * *", "start_at": datetime(2026, 2, 1)}, "start_at"),  # no offset
    ],
)
def test_bad_fields_are_refused_naming_the_field(fields, field):
    with pytest.raises(ScheduleFieldError) as caught:
        timetable(**fields)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_the_run_id_is_derived_from_the_schedule_and_the_time():
    at = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert run_instance_id("nightly", at) == "nightly@2026-03-29T01:00:00Z"
    assert run_instance_id("nightly", at.astimezone(BERLIN)) == "nightly@2026-03-29T01:00:00Z"
    assert run_instance_id("n", at, exact=True) == "n@2026-03-29T01:00:00.000000Z"
