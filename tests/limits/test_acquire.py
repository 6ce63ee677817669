"""Starting limited tasks, step by step in one thread (SQLite and PostgreSQL).

The tests run inside one rolled-back transaction: nothing is sent to the broker; the
messages the runtime would send are captured where a test looks at them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.checks import instance, this_hub
from tests.support.episodes import run_episode
from workflows.episodes import run_episode as run_episode_claiming
from workflows.limits import admission, config, report
from workflows.metrics import DatabaseCollector
from workflows.models import ActivityLimitState, ActivityTask
from workflows.runtime import dispatch
from workflows.runtime.activities import claim_limited, claim_task, execute_task, run_claimed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _decorator_limits(settings):
    settings.DURABLE_ACTIVITY_LIMITS = {}  # only the decorators' limits, whatever the env says


@pytest.fixture
def sent(monkeypatch):
    """Activity messages sent after commit: (pk, hub, queue, activity, delay_ms) each."""
    messages = []

    def record(kind, pk, hub=None, queue=None, activity=None, delay_ms=None, batch=None):
        if kind == "activity":
            messages.append((pk, hub, queue, activity, delay_ms))

    class AtOnce:  # the test's transaction never commits: send when the runtime asks
        @staticmethod
        def on_commit(fn, using=None, robust=False):
            fn()

    monkeypatch.setattr(dispatch, "_send", record)
    monkeypatch.setattr(dispatch, "transaction", AtOnce)
    return messages


def fan_out(client, tmp_path, activity, count, tag="run"):
    """Start a fan-out and run its first episode: ``count`` tasks are scheduled."""
    iid = client.start(
        "lim_fan_out", {"activity": activity, "count": count, "dir": str(tmp_path), "tag": tag}
    )
    inst = instance(iid)
    assert run_episode(inst.pk)
    return inst


def tasks(inst, status=None):
    found = ActivityTask.objects.filter(instance=inst).order_by("pk")
    return list(found.filter(status=status) if status else found)


def test_a_task_over_the_limit_waits_scheduled_and_is_no_attempt(client, tmp_path):
    inst = fan_out(client, tmp_path, "lim_two", 4)
    first, second = (
        admission.acquire(this_hub(), "lim_two"),
        admission.acquire(this_hub(), "lim_two"),
    )
    assert first and second
    assert admission.acquire(this_hub(), "lim_two") is None
    assert len(tasks(inst, "running")) == 2
    waiting = tasks(inst, "scheduled")
    assert len(waiting) == 2
    assert all(t.runs == 0 and t.attempt == 1 for t in waiting)
    # A worker that receives a plain message for a waiting task does not start it either.
    assert claim_task(waiting[0].pk) is None
    assert execute_task(waiting[0].pk) is False
    assert len(tasks(inst, "running")) == 2


def test_a_lapsed_lease_frees_its_slot(client, tmp_path):
    inst = fan_out(client, tmp_path, "lim_two", 3)
    held = [admission.acquire(this_hub(), "lim_two") for _ in range(2)]
    assert admission.acquire(this_hub(), "lim_two") is None
    ActivityTask.objects.filter(pk=held[0]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)  # its worker died
    )
    assert admission.acquire(this_hub(), "lim_two") is not None
    assert len(tasks(inst, "scheduled")) == 0


def test_slots_go_round_robin_over_instances(client, tmp_path):
    big = fan_out(client, tmp_path, "lim_five", 20, tag="big")
    small = fan_out(client, tmp_path, "lim_five", 2, tag="small")
    order = [
        ActivityTask.objects.get(pk=admission.acquire(this_hub(), "lim_five")).instance_id
        for _ in range(4)
    ]
    assert order == [big.pk, small.pk, big.pk, small.pk]


def test_a_finished_task_hands_its_slot_on_in_the_same_thread(client, tmp_path, sent):
    inst = fan_out(client, tmp_path, "lim_two", 4)
    held = [admission.acquire(this_hub(), "lim_two") for _ in range(2)]  # by other workers
    waiting = tasks(inst, "scheduled")
    assert execute_task(waiting[0].pk) is False  # full: nothing runs
    # The task's message is a wake-up of its activity: the runner picks the next in turn.
    assert execute_task(held[0], activity="lim_two") is False
    ActivityTask.objects.filter(pk=held[0]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)  # that worker died
    )
    sent.clear()
    assert execute_task(held[0], activity="lim_two") is True
    for task in waiting:  # the first ran, and its thread took the slot it freed for the next
        task.refresh_from_db()
        assert task.status == "completed" and task.runs == 1
    assert sent == [], "no broker hop between them"


def test_a_thread_busy_with_the_next_step_wakes_the_activity_instead(client, tmp_path, sent):
    spec = {"steps": ["lim_two", "lim_plain"], "dir": str(tmp_path), "tag": "steps"}
    inst = instance(client.start("lim_steps", spec))
    assert run_episode(inst.pk)
    [waiting] = tasks(inst, "scheduled")
    task = claim_limited(waiting.pk, this_hub(), "lim_two")
    sent.clear()
    recorded, claimed = run_claimed(task)
    assert recorded and claimed.name == "lim_plain"  # run next by this thread
    assert sent == [(task.pk, this_hub(), None, "lim_two", None)]


def test_new_tasks_send_one_wake_up_per_slot_and_routed_ones_go_to_their_queue(
    client, tmp_path, sent
):
    fan_out(client, tmp_path, "lim_two", 10)
    assert [m[3] for m in sent] == ["lim_two", "lim_two"]
    sent.clear()
    fan_out(client, tmp_path, "lim_partner", 3)
    assert {(m[2], m[3]) for m in sent} == {("lim-partner", "lim_partner")}
    sent.clear()
    fan_out(client, tmp_path, "lim_plain", 3)
    assert [(m[2], m[3], m[4]) for m in sent] == [(None, None, None)] * 3


def test_a_limited_activity_is_never_claimed_inline(client, tmp_path):
    spec = {"count": 1, "dir": str(tmp_path), "tag": "chain"}
    plain = instance(client.start("lim_chain", {**spec, "activity": "lim_plain"}))
    limited = instance(client.start("lim_chain", {**spec, "activity": "lim_two"}))
    routed = instance(client.start("lim_chain", {**spec, "activity": "lim_partner"}))
    assert run_episode_claiming(plain.pk)[1] is not None
    assert run_episode_claiming(limited.pk)[1] is None
    assert run_episode_claiming(routed.pk)[1] is None
    assert tasks(limited, "scheduled") and tasks(routed, "scheduled")


def test_the_rate_is_counted_and_a_wake_up_is_sent_for_when_it_allows(
    client, tmp_path, settings, sent
):
    settings.DURABLE_ACTIVITY_LIMITS = {"lim_rate": {"rate_limit": "3/m"}}
    inst = fan_out(client, tmp_path, "lim_rate", 5)
    assert admission.acquire(this_hub(), "lim_rate") and admission.acquire(this_hub(), "lim_rate")
    sent.clear()
    assert admission.acquire(this_hub(), "lim_rate")  # uses the rate up: wake when it allows
    answered = timezone.now()  # after the limiter's decision, however long it took
    [(_pk, _hub, _queue, activity, delay_ms)] = sent
    assert activity == "lim_rate"
    state = ActivityLimitState.objects.get(task_hub=this_hub(), activity="lim_rate")
    # It wakes the activity when the oldest slot it counted (3/m: slots of 3 s) leaves the
    # period, and the delayed message is not due before then (nor later than 63 s).
    oldest = min(start for start, _starts in state.recent_starts)
    assert state.wake_at.timestamp() == pytest.approx(oldest + 3 + 60, abs=0.001)
    assert answered + timedelta(milliseconds=delay_ms) >= state.wake_at
    assert 0 < delay_ms <= 63_001  # a millisecond of float rounding
    assert admission.acquire(this_hub(), "lim_rate") is None
    assert admission.acquire(this_hub(), "lim_rate") is None
    assert len(tasks(inst, "scheduled")) == 2
    assert len(sent) == 1, "one delayed wake-up is enough"


def test_the_sweeper_wakes_a_limited_activity_with_room_that_went_quiet(client, tmp_path, sent):
    fan_out(client, tmp_path, "lim_two", 3)
    now = timezone.now()
    sent.clear()
    assert admission.sweep(this_hub(), now) == 1  # room, waiting, nothing started: lost wake-up
    assert [m[3] for m in sent] == ["lim_two"]
    admission.acquire(this_hub(), "lim_two")
    assert admission.sweep(this_hub(), now) == 0  # it just started one: wake-ups flow
    admission.acquire(this_hub(), "lim_two")
    later = now + timedelta(seconds=60)
    ActivityTask.objects.filter(status="running").update(lease_expires_at=later + timedelta(1))
    assert admission.sweep(this_hub(), later) == 0  # full


def test_the_report_and_metrics_show_running_vs_limit_waiting_and_oldest_wait(client, tmp_path):
    fan_out(client, tmp_path, "lim_two", 5)
    admission.acquire(this_hub(), "lim_two")
    rows = {row.activity: row for row in report.limits_report(this_hub())}
    row = rows["lim_two"]
    assert (row.max_concurrency, row.running, row.rate_limit, row.waiting) == (2, 1, None, 4)
    assert row.oldest_wait_seconds >= 0
    assert rows["lim_rate"].rate_limit == "20/s" and rows["lim_rate"].waiting == 0
    activity, *_ = row  # rows are plain tuples too
    assert activity == "lim_two"
    families = {f.name: f for f in DatabaseCollector(this_hub()).collect()}
    samples = {
        (f.name, s.labels.get("activity")): s.value
        for f in families.values()
        if f.name.startswith("durable_activity_limit")
        for s in f.samples
    }
    assert samples[("durable_activity_limit_running", "lim_two")] == 1
    assert samples[("durable_activity_limit_max_concurrency", "lim_two")] == 2
    assert samples[("durable_activity_limit_waiting", "lim_two")] == 4
    assert samples[("durable_activity_limit_rate_per_second", "lim_rate")] == 20
    assert ("durable_activity_limit_oldest_wait_seconds", "lim_two") in samples


def test_unlimited_activities_cost_no_extra_query(client, tmp_path, settings):
    """Limits resolve in memory: a step of an unlimited activity issues the same queries."""

    def queries_of_one_step(tag):
        inst = instance(
            client.start(
                "lim_chain", {"activity": "lim_plain", "count": 3, "dir": str(tmp_path), "tag": tag}
            )
        )
        run_episode(inst.pk)
        task = tasks(inst)[0]
        with CaptureQueriesContext(connection) as captured:
            assert execute_task(task.pk)
        return [q["sql"] for q in captured.captured_queries]

    with_limits = queries_of_one_step("limited")
    settings.DURABLE_ACTIVITY_LIMITS = {
        name: {"max_concurrency": None, "rate_limit": None, "queue": None}
        for name in config.limited_names() | {"lim_partner"}
    }
    assert not config.configured()
    without = queries_of_one_step("none")
    assert len(with_limits) == len(without)


def test_a_worker_asked_for_an_unknown_queue_refuses_to_start():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as caught:
        call_command("durable", "worker", "--queues", "default,lim-partnr")
    assert "lim-partnr" in str(caught.value) and "lim-partner" in str(caught.value)
