"""Batches of a large fan-out: one claim and few commits for many tasks, same results."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.checks import assert_history_valid, instance, snapshot, wait_until
from tests.support.driver import drive
from tests.support.episodes import row_held, run_episode
from tests.support.outcomes import record_task_outcome
from workflows.engine.activity import ActivityOutcome
from workflows.models import ActivityTask, InboxMessage
from workflows.recovery import terminate_instance
from workflows.runtime.activities import claim_tasks
from workflows.runtime.batches import execute_batch, record_outcomes
from workflows.runtime.cache import sticky_cache
from workflows.runtime.dispatch import batch_size
from workflows.runtime.sweeper import sweep_once


def scheduled_fan_out(client, count: int, name: str = "t_fan_out", spec=None) -> tuple[str, list]:
    iid = client.start(name, count if spec is None else spec)
    assert run_episode(instance(iid).pk)
    pks = list(
        ActivityTask.objects.filter(instance=instance(iid)).order_by("pk").values_list("pk", flat=1)
    )
    return iid, pks


def test_small_fan_outs_get_a_message_per_task_and_large_ones_batches(settings):
    settings.DURABLE_ACTIVITY_BATCH_SIZE = 25
    assert [batch_size(n) for n in (1, 10, 31, 64, 200, 1000, 100_000)] == [1, 1, 1, 2, 6, 25, 25]
    settings.DURABLE_ACTIVITY_BATCH_SIZE = 1  # batching off
    assert batch_size(1000) == 1


@pytest.fixture
def results_at_the_end(monkeypatch, settings):
    """A batch commits its results together at its end. It commits them earlier once they
    have waited 50 ms or an attempt took 10 ms, and gives its unstarted tasks back past its
    time budget (1 s): on a busy machine that happens anywhere, so tests that count commits
    lift all three, and what the batch does no longer hangs on the clock."""
    monkeypatch.setattr("workflows.runtime.batches.FLUSH_SECONDS", 3600.0)
    monkeypatch.setattr("workflows.runtime.batches.SLOW_SECONDS", 3600.0)
    settings.DURABLE_ACTIVITY_BATCH_SECONDS = 3600


def test_a_batch_runs_every_task_once_and_records_them_in_a_few_commits(client, results_at_the_end):
    iid, pks = scheduled_fan_out(client, 40)
    with CaptureQueriesContext(connection) as queries:
        assert execute_batch(pks) == 40
    tasks = ActivityTask.objects.filter(pk__in=pks)
    assert {(t.status, t.runs) for t in tasks} == {("completed", 1)}
    # Cached here with all 40 open: the last results ran the fan-in episode in their commit.
    assert instance(iid).status == "completed"
    assert instance(iid).output == sum(i + 1 for i in range(40))
    assert_history_valid(iid)
    writes = [q for q in queries.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    assert len(writes) < 20, f"{len(writes)} writes for 40 tasks"  # one each would be 80+


def test_batched_and_one_by_one_results_are_identical(client, results_at_the_end):
    one_by_one, _ = scheduled_fan_out(client, 70)
    drive()
    batched, pks = scheduled_fan_out(client, 70)
    sticky_cache().clear()  # not cached here: the free row is taken all the same
    for start in range(0, len(pks), 25):
        assert execute_batch(pks[start : start + 25]) == len(pks[start : start + 25])
    # Each batch's results were applied in its own commit: no wake-up was needed.
    assert not InboxMessage.objects.filter(instance=instance(batched)).exists()
    assert instance(batched).status == "completed"
    drive()
    assert instance(batched).output == instance(one_by_one).output == sum(range(1, 71))
    # The same steps and results; only the number of episodes differs.
    kinds = lambda iid: Counter(  # noqa: E731
        kind for _, kind, _ in snapshot(iid) if kind != "orchestrator_started"
    )
    assert kinds(batched) == kinds(one_by_one)
    assert_history_valid(batched)


def test_a_duplicate_batch_message_runs_nothing_again(client, settings):
    # All 40 in one run, however slow the machine: a batch past its time budget gives
    # its unstarted tasks back (a CI run under load ran 32 of them in the 1 s default).
    settings.DURABLE_ACTIVITY_BATCH_SECONDS = 3600
    iid, pks = scheduled_fan_out(client, 40)
    assert execute_batch(pks) == 40
    assert execute_batch(pks) == 0
    assert claim_tasks(pks) == []
    assert {t.runs for t in ActivityTask.objects.filter(pk__in=pks)} == {1}


def test_a_batch_of_an_ended_instance_is_cancelled_not_run(client):
    iid, pks = scheduled_fan_out(client, 40)
    terminate_instance(instance(iid), "operator")
    ActivityTask.objects.filter(pk__in=pks).update(status="scheduled")  # messages raced it
    assert execute_batch(pks) == 0
    assert set(ActivityTask.objects.filter(pk__in=pks).values_list("status", flat=True)) == {
        "cancelled"
    }


def test_a_slow_batch_gives_back_the_tasks_it_has_not_started(client, settings):
    settings.DURABLE_ACTIVITY_BATCH_SECONDS = 0.05
    iid, pks = scheduled_fan_out(client, 0, "t_wide_slow", {"count": 8, "sleep": 0.03})
    assert len(pks) == 8
    recorded = execute_batch(pks)
    tasks = {t.pk: t for t in ActivityTask.objects.filter(pk__in=pks)}
    done = [pk for pk in pks if tasks[pk].status == "completed"]
    given_back = [pk for pk in pks if tasks[pk].status == "scheduled"]
    assert 1 <= recorded == len(done) < 8
    assert done + given_back == pks  # in order: the first ran, the rest went back
    assert {(tasks[pk].runs, tasks[pk].worker, tasks[pk].started_at) for pk in given_back} == {
        (0, "", None)
    }
    drive()
    assert instance(iid).output == sum(range(1, 9))
    assert {t.runs for t in ActivityTask.objects.filter(pk__in=pks)} == {1}


def test_an_outcome_recorded_by_another_worker_is_not_recorded_again(client):
    iid, pks = scheduled_fan_out(client, 40)
    sticky_cache().clear()
    tasks = claim_tasks(pks)
    # Its lease ran out and another worker finished it first, with another result.
    assert record_task_outcome(tasks[0].pk, True, 999, None)
    outcomes = [(task, ActivityOutcome(True, result=1)) for task in tasks]
    recorded, episodes = record_outcomes(outcomes, registry=None)
    assert (recorded, len(episodes)) == (39, 1)  # the row was free: applied in that commit
    assert not InboxMessage.objects.filter(instance=instance(iid)).exists()
    assert instance(iid).output == 999 + 39  # the first outcome of task 0 is the one used


def test_a_batch_lost_in_a_crash_runs_again_when_its_leases_expire(client):
    iid, pks = scheduled_fan_out(client, 40)
    assert len(claim_tasks(pks)) == 40  # ... and the worker died before running them
    drive()
    assert instance(iid).status == "running"  # leased: nobody else runs them meanwhile
    ActivityTask.objects.filter(pk__in=pks).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert sweep_once().leases_expired == 40
    drive()
    assert instance(iid).output == sum(range(1, 41))
    assert {t.runs for t in ActivityTask.objects.filter(pk__in=pks)} == {2}


def test_workers_run_a_large_fan_out_in_batches_and_spread_slow_ones(client, start_worker):
    start_worker(DURABLE_ACTIVITY_BATCH_SECONDS="0.1")
    # 320 tasks: batches of 10, each 0.2 s of work: every batch gives its tail back.
    iid = client.start("t_wide_slow", {"count": 320, "sleep": 0.02})
    state = client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(range(1, 321))
    assert_history_valid(iid)
    tasks = ActivityTask.objects.filter(instance=instance(iid))
    assert set(tasks.values_list("status", "runs")) == {("completed", 1)}
    scheduled_at = min(tasks.values_list("enqueued_at", flat=True))
    assert tasks.filter(enqueued_at__gt=scheduled_at).count() > 0  # given back, sent again


def test_a_bounded_fan_out_merges_results_and_terminates_cleanly(client, start_worker):
    """Results wait for the instance row; a terminate in the middle takes it too: no deadlock."""
    workers = [start_worker(threads=4), start_worker(threads=4)]
    done = client.start("t_bounded_slow", {"count": 120, "sleep": 0.005, "parallel": 8})
    stopped = client.start("t_bounded_slow", {"count": 100_000, "sleep": 0.005, "parallel": 8})
    finished = ActivityTask.objects.filter(instance__instance_id=stopped, status="completed")
    wait_until(lambda: finished.count() >= 50, timeout=60, what="50 results of the long one")
    client.terminate(stopped, reason="enough")  # while its results keep arriving
    assert client.wait_for_completion(stopped, timeout=60).status == "terminated"
    assert_history_valid(stopped, complete=False)
    state = client.wait_for_completion(done, timeout=120)
    assert state.status == "completed", state.failure
    assert state.output == sum(range(1, 121))
    assert_history_valid(done)
    open_tasks = ActivityTask.objects.filter(
        instance=instance(stopped), status__in=["scheduled", "running"]
    )
    wait_until(lambda: not open_tasks.exists(), timeout=30, what="open tasks cancelled")
    for worker in workers:
        log = getattr(worker, "log_path", None)
        if log is not None:
            assert "deadlock" not in log.read_text().lower()


def test_a_batch_cut_short_gives_its_unstarted_tasks_back_at_once(client, results_at_the_end):
    from tests.support.workflows import WorkerInterrupted

    iid = client.start("t_fan_out_interrupted", {"count": 40, "at": 2})
    assert run_episode(instance(iid).pk)
    pks = list(
        ActivityTask.objects.filter(instance=instance(iid)).order_by("pk").values_list("pk", flat=1)
    )
    with pytest.raises(WorkerInterrupted):
        execute_batch(pks)
    tasks = list(ActivityTask.objects.filter(pk__in=pks).order_by("pk"))
    # The interrupted one and the two before it (results never committed) keep their
    # leases: at least once, they run again when those expire. The rest go back now.
    assert [t.status for t in tasks[:3]] == ["running"] * 3
    assert {(t.status, t.runs, t.worker) for t in tasks[3:]} == {("scheduled", 0, "")}


@pytest.mark.django_db(transaction=True)
def test_a_result_does_not_wait_for_an_instance_it_knows_nothing_about(client):
    """Not cached here (or an episode has it now): if the row is busy, the inbox it is."""
    if connection.vendor == "sqlite":
        pytest.skip("row locks: SQLite serializes whole transactions instead")
    from workflows.runtime.activities import claim_task, run_claimed

    iid = client.start("t_chain", 3)
    pk = instance(iid).pk
    assert run_episode(pk)
    task = claim_task(ActivityTask.objects.get(instance_id=pk).pk)
    sticky_cache().clear()
    with row_held(pk):
        recorded, next_task = run_claimed(task)  # returns at once instead of waiting
        assert (recorded, next_task) == (True, None)
        assert InboxMessage.objects.filter(instance_id=pk).count() == 1
