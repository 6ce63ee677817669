"""The driver against the database: exactly one start per scheduled time, catch-up after
downtime (a stopped worker and a moved clock: ``now`` is the driver's parameter), every
overlap policy, DST, code-declared schedules and the sweeper's wake-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.engine.registry import Registry
from workflows.models import AuditEntry, ExternalEvent, Instance
from workflows.schedules import driver
from workflows.schedules.models import Schedule, ScheduleRun
from workflows.schedules.wakeups import wake_due

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # a Monday noon, in the future of the test run
MIN = timedelta(minutes=1)


def runs(schedule_id: str, outcome: str = "started") -> list[str]:
    return list(
        ScheduleRun.objects.filter(schedule__schedule_id=schedule_id, outcome=outcome)
        .order_by("scheduled_at")
        .values_list("instance_id", flat=True)
    )


def fresh(schedule_id: str) -> Schedule:
    return Schedule.objects.get(schedule_id=schedule_id)


def finish(instance_id: str) -> None:
    Instance.objects.filter(instance_id=instance_id).update(status="completed")


def test_a_due_time_starts_one_instance_with_an_id_derived_from_it(client, make_schedule):
    make_schedule("tick", at=T0, pass_scheduled_time=True, input={"region": "eu"})

    report = client.run_due_schedules(now=T0 + 5 * 1e-3 * MIN)

    assert report.started == 1
    instance = Instance.objects.get(instance_id="tick@2030-01-07T12:00:00Z")
    assert instance.name == "s_wait" and instance.status == "pending"
    assert instance.input == {"region": "eu", "scheduled_at": "2030-01-07T12:00:00Z"}
    assert fresh("tick").next_run_at == T0 + 10 * MIN
    assert client.schedule_of_instance(instance.instance_id) == "tick"


def test_the_same_time_never_starts_twice(client, make_schedule):
    schedule = make_schedule("once", at=T0, overlap="allow_all")
    client.run_due_schedules(now=T0)
    # a second claim of the same time (a stale worker, a crash's retry): the unique keys
    # refuse it and nothing changes
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=T0, next_due_at=T0)
    again = client.run_due_schedules(now=T0)

    assert again.claimed == 1 and again.started == 0
    assert runs("once") == ["once@2030-01-07T12:00:00Z"]
    assert Instance.objects.filter(instance_id__startswith="once@").count() == 1


def test_nothing_due_is_nothing_claimed(client, make_schedule):
    make_schedule("later", at=T0)
    assert client.run_due_schedules(now=T0 - MIN).claimed == 0
    wake_due(client.hub, T0 - MIN)  # the first also wakes for the declared s_declared
    assert wake_due(client.hub, T0 - MIN) == 0
    assert wake_due(client.hub, T0) == 1


@pytest.mark.parametrize(
    ("catchup", "started", "missed"),
    [("all", 7, 6), ("latest", 1, 12), ("none", 1, 12)],
)
def test_a_worker_down_two_hours_catches_up_by_the_policy(
    client, make_schedule, catchup, started, missed
):
    make_schedule("every10", at=T0, catchup=catchup, overlap="allow_all", catchup_window=3600)
    later = T0 + 120 * MIN  # the worker was stopped for two hours: 13 times are due

    report = client.run_due_schedules(now=later)

    assert (report.started, report.missed) == (started, missed)
    schedule = fresh("every10")
    assert (schedule.started, schedule.missed) == (started, missed)
    assert schedule.next_run_at == later + 10 * MIN
    # the worker comes back and runs again and again: nothing runs twice
    assert client.run_due_schedules(now=later).started == 0
    for step in (10, 20, 30):  # and keeps up again: each time on time
        assert client.run_due_schedules(now=later + step * MIN).started == 1
    assert len(set(runs("every10"))) == len(runs("every10")) == started + 3


def test_late_starts_are_counted(client, make_schedule):
    make_schedule("late", at=T0, catchup="latest")
    client.run_due_schedules(now=T0 + 5 * MIN)
    assert fresh("late").late_starts == 1


def test_overlap_skip(client, make_schedule):
    make_schedule("sk", at=T0, overlap="skip")
    client.run_due_schedules(now=T0)
    client.run_due_schedules(now=T0 + 10 * MIN)  # the first still runs
    assert runs("sk") == ["sk@2030-01-07T12:00:00Z"]
    assert runs("sk", "skipped") == [""] and fresh("sk").skipped == 1
    finish("sk@2030-01-07T12:00:00Z")
    client.run_due_schedules(now=T0 + 20 * MIN)
    assert runs("sk")[-1] == "sk@2030-01-07T12:20:00Z"


def test_overlap_buffer_one_starts_one_when_the_previous_finishes(client, make_schedule):
    make_schedule("buf", at=T0, overlap="buffer_one")
    client.run_due_schedules(now=T0)
    client.run_due_schedules(now=T0 + 10 * MIN)  # buffered
    client.run_due_schedules(now=T0 + 20 * MIN)  # one is buffered already: skipped
    assert fresh("buf").buffered_at == T0 + 10 * MIN and fresh("buf").skipped == 1
    assert client.run_due_schedules(now=T0 + 25 * MIN).claimed == 0  # still going

    finish("buf@2030-01-07T12:00:00Z")
    report = client.run_due_schedules(now=T0 + 26 * MIN)

    assert report.started == 1
    assert runs("buf") == ["buf@2030-01-07T12:00:00Z", "buf@2030-01-07T12:10:00Z"]
    assert fresh("buf").buffered_at is None


def test_overlap_allow_all(client, make_schedule):
    make_schedule("all", at=T0, overlap="allow_all")
    for n in range(3):
        client.run_due_schedules(now=T0 + n * 10 * MIN)
    assert len(runs("all")) == 3
    assert Instance.objects.filter(instance_id__startswith="all@", status="pending").count() == 3


def test_overlap_terminate_previous(client, make_schedule):
    make_schedule("term", at=T0, overlap="terminate_previous")
    client.run_due_schedules(now=T0)
    client.run_due_schedules(now=T0 + 10 * MIN)

    first = Instance.objects.get(instance_id="term@2030-01-07T12:00:00Z")
    assert first.status == "terminated"
    assert Instance.objects.get(instance_id="term@2030-01-07T12:10:00Z").status == "pending"
    entry = AuditEntry.objects.get(instance=first, action="terminate")
    assert entry.actor == "schedule:term"


def test_overlap_cancel_previous_asks_the_previous_run_to_stop(client, make_schedule):
    make_schedule("can", at=T0, overlap="cancel_previous")
    client.run_due_schedules(now=T0)
    client.run_due_schedules(now=T0 + 10 * MIN)

    event = ExternalEvent.objects.get(instance__instance_id="can@2030-01-07T12:00:00Z")
    assert event.name == "schedule_cancel"
    assert event.data == {"schedule": "can", "next_scheduled_at": "2030-01-07T12:10:00Z"}
    assert len(runs("can")) == 2


@pytest.mark.parametrize(
    ("day", "expected_utc"),
    [
        (datetime(2030, 3, 31, tzinfo=UTC), datetime(2030, 3, 31, 1, 0, tzinfo=UTC)),  # 03:00 CEST
        (datetime(2030, 10, 27, tzinfo=UTC), datetime(2030, 10, 27, 0, 30, tzinfo=UTC)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_daily_0230_berlin_runs_once_on_dst_days(client, make_schedule, day, expected_utc):
    start = day - timedelta(hours=3)
    make_schedule("dst", at=start, cron="30 2 * * *", timezone="Europe/Berlin", overlap="allow_all")
    clock = start
    while clock < day + timedelta(hours=22):  # a worker polling every 15 minutes
        client.run_due_schedules(now=clock)
        clock += 15 * MIN
    started = ScheduleRun.objects.filter(schedule__schedule_id="dst", outcome="started")
    assert [run.scheduled_at for run in started] == [expected_utc]
    assert fresh("dst").missed == 0


def test_a_paused_schedule_starts_nothing_and_resumes_from_now(client, make_schedule, scheduler):
    make_schedule("p", at=T0)
    state = client.pause_schedule("p", note="maintenance", by=scheduler)
    assert (state.paused, state.paused_by, state.paused_note) == (True, "sam", "maintenance")
    assert client.run_due_schedules(now=T0 + 30 * MIN).claimed == 0

    state = client.resume_schedule("p", by=scheduler)

    assert not state.paused and state.next_run_at > datetime.now(UTC)
    assert runs("p") == []


def test_an_orchestrator_this_worker_does_not_know_leaves_the_time_due(client, make_schedule):
    make_schedule("unknown", at=T0)
    report = driver.run_due(client.hub, now=T0, registry=Registry())

    assert report.started == 0
    schedule = fresh("unknown")
    assert "s_wait" in schedule.last_error and schedule.next_run_at == T0
    assert runs("unknown") == []
    assert client.run_due_schedules(now=T0).started == 1  # a worker that knows it
    assert fresh("unknown").last_error == ""


def test_schedules_declared_in_code_are_written_down_once(client):
    client.run_due_schedules(now=T0)
    declared = fresh("s_declared")
    assert (declared.source, declared.cron, declared.timezone) == (
        "code",
        "0 3 * * *",
        "Europe/Berlin",
    )
    assert declared.next_run_at is not None
    client.run_due_schedules(now=T0)
    assert Schedule.objects.filter(schedule_id="s_declared").count() == 1
