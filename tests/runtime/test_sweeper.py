"""The sweeper and timer poller: the database alone is enough to recover lost messages."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.brokers import purge_queues
from tests.support.checks import (
    NOTHING,
    assert_history_valid,
    history,
    instance,
    kinds,
    other_hub,
    sweep_at,
    this_hub,
    wait_until,
)
from tests.support.driver import drive
from tests.support.episodes import run_episode
from workflows.client import DurableClient
from workflows.models import ActivityTask, BulkOperation, Instance, Timer
from workflows.runtime.activities import claim_task, execute_task
from workflows.runtime.sweeper import (
    candidates,
    expire_leases,
    fire_due_timers,
    resend_lost_tasks,
    resend_lost_wakeups,
    sweep_once,
)

LATER = timedelta(seconds=60)


def test_a_task_whose_message_was_lost_is_sent_again_once(client):
    iid = client.start("t_chain", 1)
    assert run_episode(instance(iid).pk)
    task = ActivityTask.objects.get(instance=instance(iid))
    now = timezone.now()
    assert resend_lost_tasks(this_hub(), now) == 0  # just enqueued: not lost yet
    assert resend_lost_tasks(this_hub(), now + LATER) == 1
    assert resend_lost_tasks(this_hub(), now + LATER) == 0  # re-sent just now
    task.refresh_from_db()
    assert task.enqueued_at == now + LATER
    assert task.status == "scheduled"


def test_a_task_of_an_instance_still_moving_is_queued_not_lost(client, settings):
    """Its siblings' results keep arriving: it waits behind them, up to 12 x the delay."""
    settings.DURABLE_REDELIVER_AFTER_SECONDS = 5
    iid = client.start("t_fan_out", 3)
    assert run_episode(instance(iid).pk)
    now = timezone.now()
    Instance.objects.filter(pk=instance(iid).pk).update(updated_at=now + timedelta(seconds=20))
    assert resend_lost_tasks(this_hub(), now + timedelta(seconds=21)) == 0  # moving
    assert resend_lost_tasks(this_hub(), now + timedelta(seconds=26)) == 3  # quiet for 5 s
    ActivityTask.objects.filter(instance=instance(iid)).update(enqueued_at=now, resends=0)
    Instance.objects.filter(pk=instance(iid).pk).update(updated_at=now + timedelta(seconds=60))
    assert resend_lost_tasks(this_hub(), now + timedelta(seconds=59)) == 0
    assert resend_lost_tasks(this_hub(), now + timedelta(seconds=61)) == 3  # capped: 12 x 5 s


def test_a_task_re_sent_again_and_again_waits_twice_as_long_each_time(client, settings):
    """A task queued behind a backlog looks lost; its resends back off (5, 10, 20 s ...)."""
    settings.DURABLE_REDELIVER_AFTER_SECONDS = 5
    iid = client.start("t_chain", 1)
    assert run_episode(instance(iid).pk)
    task = ActivityTask.objects.get(instance=instance(iid))
    sent_at = timezone.now() + timedelta(seconds=6)
    assert resend_lost_tasks(this_hub(), sent_at) == 1
    for resends, wait in ((1, 10), (2, 20), (3, 40)):
        assert resend_lost_tasks(this_hub(), sent_at + timedelta(seconds=wait - 1)) == 0
        sent_at += timedelta(seconds=wait + 1)
        assert resend_lost_tasks(this_hub(), sent_at) == 1
        task.refresh_from_db()
        assert (task.resends, task.enqueued_at) == (resends + 1, sent_at)
    # the wait stops growing at 64 x: a lost message is still re-sent every 5 min 20 s
    ActivityTask.objects.filter(pk=task.pk).update(resends=30)
    assert resend_lost_tasks(this_hub(), sent_at + timedelta(seconds=319)) == 0
    assert resend_lost_tasks(this_hub(), sent_at + timedelta(seconds=321)) == 1


def test_an_expired_lease_runs_the_activity_again_with_the_same_key(client, tmp_path):
    path = tmp_path / "touches.txt"
    iid = client.start("t_touch_twice", str(path))
    assert run_episode(instance(iid).pk)
    task = ActivityTask.objects.get(instance=instance(iid))
    claim_task(task.pk)  # a worker claimed it, then died without a word
    assert expire_leases(this_hub(), timezone.now()) == 0  # the lease still runs
    assert execute_task(task.pk) is False
    assert expire_leases(this_hub(), timezone.now() + timedelta(hours=1)) == 1
    task.refresh_from_db()
    assert (task.status, task.lease_expires_at) == ("scheduled", None)
    assert execute_task(task.pk) is True
    task.refresh_from_db()
    assert (task.status, task.runs) == ("completed", 2)
    # at-least-once: the side effect ran once here (the dead worker's run never counted)
    mine = [t for t in path.read_text().splitlines() if t.startswith(task.idempotency_key + " ")]
    assert mine == [f"{task.idempotency_key} 1"]
    drive()
    assert client.get_status(iid).output == 3
    assert kinds(iid).count("activity_completed") == 2
    assert_history_valid(iid)


def test_a_lost_wake_up_is_sent_again_but_not_for_suspended_instances(client):
    running = client.start("t_chain", 1)
    paused = client.start("t_chain", 1)
    client.suspend(paused)
    now = timezone.now()
    assert resend_lost_wakeups(this_hub(), now) == 0
    assert resend_lost_wakeups(this_hub(), now + LATER) == 1
    assert resend_lost_wakeups(this_hub(), now + LATER) == 0  # woken just now
    assert instance(running).woken_at == now + LATER
    assert instance(paused).woken_at < now


def test_an_instance_whose_replay_failed_is_not_woken_again_until_retried(client):
    failed_replay = client.start("t_chain", 1)
    failed_undo = client.start("t_chain", 1)
    Instance.objects.filter(instance_id=failed_replay).update(
        needs_attention=True, attention_reason="replay: orchestrator 't_chain' v9 missing"
    )
    Instance.objects.filter(instance_id=failed_undo).update(
        needs_attention=True, attention_reason="compensation refund (refund) failed: boom"
    )
    later = timezone.now() + LATER
    assert resend_lost_wakeups(this_hub(), later) == 1
    assert instance(failed_undo).woken_at == later
    assert instance(failed_replay).woken_at < later
    # The operator's retry after the fix wakes it; its inbox was kept all along.
    client.retry_episode(failed_replay)
    drive()
    assert client.get_status(failed_replay).status == "completed"
    assert not instance(failed_replay).needs_attention


def test_a_round_looks_only_where_something_can_be_due(client):
    nothing = {"timers": False, "tasks": False, "inbox": False, "bulk": False}
    now = timezone.now()
    assert candidates(this_hub(), now) == nothing
    with CaptureQueriesContext(connection) as idle:
        assert sweep_at(this_hub(), now) == NOTHING
    # The candidates, the schedules and the entities: not one query per sweep (18).
    assert len(idle.captured_queries) == 3, [q["sql"][:80] for q in idle.captured_queries]

    client.start("t_timer", 1)  # its start message waits in the inbox
    assert candidates(this_hub(), now + LATER) == {**nothing, "inbox": True}
    drive()  # the first episode: a timer, due in 1 s
    assert candidates(this_hub(), now) == nothing
    assert candidates(this_hub(), now + LATER) == {**nothing, "timers": True}
    assert sweep_at(this_hub(), now + LATER) == {"timers_fired": 1}

    chain = client.start("t_chain", 1)
    assert run_episode(instance(chain).pk)  # its activity is scheduled: open
    assert candidates(this_hub(), now)["tasks"] is True
    assert candidates(other_hub(), now) == nothing  # another hub's rows are not ours
    BulkOperation.objects.create(task_hub=this_hub(), action="terminate", reason="r", actor="t")
    assert candidates(this_hub(), now)["bulk"] is True


def test_due_timers_fire_once_and_only_in_their_hub(client):
    ours = client.start("t_timer", 1)
    theirs = DurableClient(hub=other_hub()).start("t_timer", 1)
    drive()
    drive(other_hub())
    later = timezone.now() + LATER
    assert fire_due_timers(this_hub(), later) == 1
    assert fire_due_timers(this_hub(), later) == 0
    assert Timer.objects.get(instance=instance(theirs, other_hub())).fired is False
    assert Timer.objects.get(instance=instance(ours)).fired is True
    report = sweep_once(this_hub())
    assert report.timers_fired == 0
    assert Instance.objects.get(pk=instance(theirs, other_hub()).pk).status == "running"


def test_messages_lost_while_no_worker_runs_are_recovered(client, start_worker):
    chain = client.start("t_chain", 5)
    fan = client.start("t_fan_out", 20)
    timer = client.start("t_timer", 0.2)
    purged = purge_queues(this_hub())  # e.g. a broker restarted without persistence
    if purged is not None:
        assert purged >= 3  # the three start wake-ups were waiting
    start_worker()
    for iid in (chain, fan, timer):
        state = client.wait_for_completion(iid, timeout=120)
        assert state.status == "completed", state.failure
        assert_history_valid(iid)
    assert client.get_status(chain).output == 10
    assert client.get_status(fan).output == sum(range(1, 21))


def test_messages_purged_while_workers_run_are_recovered(client, start_worker):
    start_worker(threads=2)
    iid = client.start("t_wide_slow", {"count": 60, "sleep": 0.05})
    inst = instance(iid)
    wait_until(
        lambda: ActivityTask.objects.filter(instance=inst, status="completed").count() >= 5,
        what="the first results",
    )
    purged = purge_queues(this_hub())
    if purged is not None:
        assert purged > 0, "the backlog should have been waiting in the broker"
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(range(1, 61))
    assert ActivityTask.objects.filter(instance=inst, status="completed").count() == 60
    assert_history_valid(iid)


def test_a_timer_due_while_no_worker_runs_fires_when_one_starts(client, start_worker):
    worker = start_worker()
    iid = client.start("t_timer_then_add", 2)
    wait_until(lambda: "timer_created" in kinds(iid), what="the timer")
    worker.stop()
    timer = Timer.objects.get(instance=instance(iid))
    wait_until(lambda: timezone.now() > timer.fire_at + timedelta(seconds=0.5), timeout=10)
    timer.refresh_from_db()
    assert timer.fired is False, "nothing runs: the timer waits in the database"
    assert client.get_status(iid).status == "running"
    start_worker()
    state = client.wait_for_completion(iid, timeout=120)
    assert (state.status, state.output) == ("completed", 3)
    fired = next(r for r in history(iid) if r.kind == "timer_fired")
    assert fired.timestamp > timer.fire_at
    assert_history_valid(iid)
