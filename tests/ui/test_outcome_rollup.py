"""The outcome chart from a rollup of closed buckets (workflows/ui/outcome_rollup.py):
closed hours and days counted once and stored, open ones live, the same figures as a
live count of the same rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from workflows.models import Instance, OutcomeBucket
from workflows.ui import outcome_rollup, queries
from workflows.ui.outcome_rollup import CLOSE_AFTER, bucket_starts, outcome_counts

HUB = "rollup"
# Half past an hour, well after CLOSE_AFTER: every bucket but the current one is closed.
NOW = datetime(2026, 3, 14, 15, 30, tzinfo=UTC)


@pytest.fixture
def finished(db) -> Callable[..., None]:
    """``finished(status, completed_at, ...)``: instances that ended then (no worker)."""
    made = iter(range(1_000_000))

    def make(status: str, *moments: datetime, hub: str = HUB) -> None:
        Instance.objects.bulk_create(
            Instance(
                task_hub=hub,
                instance_id=f"i-{next(made)}",
                name="t_chain",
                status=status,
                execution_id="e",
                completed_at=moment,
            )
            for moment in moments
        )

    return make


def live(unit: str, count: int, now: datetime, hub: str = HUB) -> list[tuple[datetime, int, int]]:
    """What the chart must show: the rows of each bucket counted one by one, in Python."""
    step = outcome_rollup.STEP[unit]
    rows = list(
        Instance.objects.filter(task_hub=hub, completed_at__isnull=False).values_list(
            "completed_at", "status"
        )
    )
    return [
        (
            start,
            sum(1 for at, s in rows if start <= at < start + step and s == "completed"),
            sum(1 for at, s in rows if start <= at < start + step and s == "failed"),
        )
        for start in bucket_starts(unit, count, now)
    ]


def test_closed_buckets_are_counted_once_stored_and_read_back(finished):
    finished("completed", NOW - timedelta(hours=3), NOW - timedelta(hours=3, minutes=10))
    finished("failed", NOW - timedelta(hours=5))
    finished("completed", NOW - timedelta(minutes=1))  # this hour: open

    expected = live("hour", 24, NOW)
    first = outcome_counts(HUB, "hour", 24, NOW)
    stored = OutcomeBucket.objects.filter(task_hub=HUB, unit="hour")
    # The closed rows change afterwards (as a purge would): the stored buckets still count
    # them, so they are read back, not counted again.
    Instance.objects.filter(task_hub=HUB, completed_at__lt=NOW - timedelta(hours=1)).delete()
    with CaptureQueriesContext(connection) as second_queries:
        second = outcome_counts(HUB, "hour", 24, NOW)

    assert first == second == expected
    assert [b[1:] for b in first[-6:]] == [(0, 1), (0, 0), (2, 0), (0, 0), (0, 0), (1, 0)]
    assert stored.count() == 23  # every closed hour, empty ones too; not the open one
    assert stored.get(start=first[-4][0]).completed == 2
    assert len(second_queries) == 2  # the stored buckets, the open hour
    assert not any("INSERT" in q["sql"] for q in second_queries.captured_queries)


def test_only_buckets_closed_since_the_last_request_are_counted(finished):
    finished("completed", NOW - timedelta(hours=2))
    outcome_counts(HUB, "hour", 24, NOW)
    later = NOW + timedelta(hours=2)
    finished("failed", NOW + timedelta(minutes=5))

    with CaptureQueriesContext(connection) as queries_run:
        found = outcome_counts(HUB, "hour", 24, later)

    counts = [q["sql"] for q in queries_run.captured_queries if "workflows_instance" in q["sql"]]
    assert found == live("hour", 24, later)
    assert OutcomeBucket.objects.filter(task_hub=HUB, unit="hour").count() == 25
    assert len(counts) == 2  # the two hours closed since (one range), the open hour
    assert found[-3][1:] == (0, 1)


def test_an_instance_finishing_in_an_open_bucket_shows_at_once(finished):
    just_after = NOW.replace(minute=2)  # the hour before is not closed yet (CLOSE_AFTER)
    before = outcome_counts(HUB, "hour", 24, just_after)
    finished("completed", just_after - timedelta(minutes=4))  # the previous hour, late
    finished("failed", just_after - timedelta(seconds=1))  # this hour

    after = outcome_counts(HUB, "hour", 24, just_after)
    days = outcome_counts(HUB, "day", 14, just_after)

    assert [b[1:] for b in before[-2:]] == [(0, 0), (0, 0)]
    assert [b[1:] for b in after[-2:]] == [(1, 0), (0, 1)]
    assert days[-1][1:] == (1, 1)
    assert not OutcomeBucket.objects.filter(start__gte=before[-2][0]).exists()
    # Once closed, the late one is stored with its hour.
    closed = outcome_counts(HUB, "hour", 24, just_after + CLOSE_AFTER)
    assert closed[-2][1:] == (1, 0)
    assert OutcomeBucket.objects.get(start=closed[-2][0]).completed == 1


ZONES = ("Asia/Kolkata", "UTC")  # +05:30: its hours start at half past UTC's


def test_the_rollup_shows_what_a_live_count_of_the_same_rows_shows(finished):
    days = bucket_starts("day", 16, NOW)
    moments = [  # every 97 minutes over 16 days: each hour's edge crossed at another minute
        days[0] + timedelta(minutes=97 * n + n % 7) for n in range(16 * 24 * 60 // 97)
    ]
    finished("completed", *moments[::2])
    finished("failed", *moments[1::3])
    finished("terminated", *moments[2::5])  # neither completed nor failed
    finished("completed", *moments[::4], hub="elsewhere")  # another hub
    for zone in ZONES:
        with timezone.override(zone):
            edges = bucket_starts("day", 16, NOW) + bucket_starts("hour", 40, NOW)[::5]
        finished("completed", *edges)  # exactly at a bucket's first moment
        finished("failed", *(e - timedelta(microseconds=1) for e in edges))  # at its last
    shown = 0

    # Both zones in one database: the buckets stored under one must not leak into the other.
    for zone in ZONES:
        with timezone.override(zone):  # the buckets' edges are this zone's hours and days
            for now in (NOW, NOW + timedelta(minutes=3), NOW + timedelta(hours=7, minutes=1)):
                for unit, count in (("hour", 24), ("day", 14), ("hour", 36)):
                    expected = live(unit, count, now)
                    assert outcome_counts(HUB, unit, count, now) == expected, (zone, unit, now)
                    again = outcome_counts(HUB, unit, count, now)
                    assert again == expected, (zone, unit, now, "again")
                    shown += sum(c + f for _start, c, f in expected)

    assert shown > 1000  # the rows reached the chart


def test_outcomes_keep_their_shape(finished):
    finished("completed", timezone.now())
    finished("failed", timezone.now() - timedelta(days=1, hours=1))

    hours = queries.outcomes(HUB, "hour", 24)
    days = queries.outcomes(HUB, "day", 14)

    assert len(hours) == 24 and len(days) == 14
    assert sum(b.completed for b in hours) == 1 and sum(b.failed for b in hours) == 0
    assert [b.counts for b in days[-3:]].count((0, 1)) == 1
    assert hours[-1].start == timezone.localtime(hours[-1].start).replace(minute=0, second=0)


def test_a_bucket_stored_meanwhile_by_another_request_is_harmless(finished, monkeypatch):
    finished("completed", NOW - timedelta(hours=3))
    first = outcome_counts(HUB, "day", 14, NOW)
    # As if another request stored the same buckets between this one's read and insert.
    monkeypatch.setattr(outcome_rollup, "stored", lambda *args: {})

    second = outcome_counts(HUB, "day", 14, NOW)

    assert first == second == live("day", 14, NOW)
    assert OutcomeBucket.objects.filter(task_hub=HUB, unit="day").count() == 13
    assert OutcomeBucket.objects.filter(task_hub=HUB, unit="hour").count() == 15


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two connections at once")
@pytest.mark.django_db(transaction=True)
def test_two_requests_counting_the_same_buckets_at_once_both_answer(finished, monkeypatch):
    finished("completed", NOW - timedelta(hours=3), NOW - timedelta(days=2))
    read = outcome_rollup.stored
    both_read = threading.Barrier(2, timeout=10)

    def stored_then_wait(*args):  # both have read (nothing) before either inserts
        found = read(*args)
        both_read.wait()
        return found

    monkeypatch.setattr(outcome_rollup, "stored", stored_then_wait)
    answers, errors = [], []

    def request() -> None:
        try:
            answers.append(outcome_counts(HUB, "hour", 24, NOW))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert answers[0] == answers[1] == live("hour", 24, NOW)
    assert OutcomeBucket.objects.filter(task_hub=HUB).count() == 23
