"""Limits across real `durable worker` processes on PostgreSQL and a real broker.

Two processes of four threads each share every limit through the database. Each run of
a test activity leaves a file with its start and end (tests/support/limit_workflows.py),
so overlap and rate are measured from what actually ran, in every process.
"""

from __future__ import annotations

import time

import pytest

from tests.limits.conftest import MODULES
from tests.support.checks import instance, wait_until
from tests.support.limit_workflows import Run, max_overlap, max_starts_within, runs
from tests.support.workers import DurableWorkerCommand
from workflows.models import ActivityTask

pytestmark = [pytest.mark.postgres, pytest.mark.integration]


def report(what: str, **numbers: object) -> None:
    """Measurements, shown with ``pytest -s`` (and in the log of a failing test)."""
    print(f"\n[limits] {what}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


def fan_out(client, tmp_path, activity, count, sleep=0.0, tag="run"):
    spec = {"activity": activity, "count": count, "sleep": sleep, "dir": str(tmp_path)}
    return client.start("lim_fan_out", {**spec, "tag": tag})


def open_tasks(iid, status):
    return ActivityTask.objects.filter(instance=instance(iid), status=status).count()


def test_two_hundred_calls_never_run_more_than_five_at_once(client, limit_workers, tmp_path):
    first, second = limit_workers(), limit_workers()
    started = time.monotonic()
    iid = fan_out(client, tmp_path, "lim_five", 200, sleep=0.02)
    state = client.wait_for_completion(iid, timeout=90)
    elapsed = time.monotonic() - started
    assert state.status == "completed", state.failure
    assert state.output == 200
    found = runs(tmp_path)
    assert len(found) == 200 and all(r.end is not None for r in found)
    tasks = ActivityTask.objects.filter(instance=instance(iid))
    # A slot is held from the claim to the commit of the result (with the next episode).
    slots = [
        Run("slot", start.timestamp(), end.timestamp(), 0)
        for start, end in tasks.values_list("started_at", "finished_at")
    ]
    peak = max_overlap(found)
    report(
        "max_concurrency=5, 200 calls",
        max_overlap=peak,
        max_slots_held=max_overlap(slots),
        seconds=round(elapsed, 2),
    )
    assert peak <= 5
    assert max_overlap(slots) == 5, "the limit is a ceiling, not a crawl"
    assert {r.pid for r in found} == {first.proc.pid, second.proc.pid}, "both processes served"
    assert {(t.runs, t.attempt) for t in tasks} == {(1, 1)}, "waiting is no attempt"


def test_a_rate_of_twenty_per_second_is_kept(client, limit_workers, tmp_path):
    limit_workers(), limit_workers()
    iid = fan_out(client, tmp_path, "lim_rate", 70)
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    found = runs(tmp_path)
    assert len(found) == 70
    span = found[-1].start - found[0].start
    claimed = sorted(
        ActivityTask.objects.filter(instance=instance(iid)).values_list("started_at", flat=True)
    )
    claims = [Run("claim", t.timestamp(), t.timestamp(), 0) for t in claimed]
    report(
        "rate_limit=20/s, 70 calls",
        max_starts_in_1s=max_starts_within(found, 1.0),
        max_claims_in_1s=max_starts_within(claims, 1.0),
        first_to_last_start_seconds=round(span, 2),
    )
    # Claims (the limiter's own clock) never exceed 20 in any second; the runs start a few
    # ms later, so they are checked over a slightly shorter window.
    assert max_starts_within(claims, 1.0) <= 20
    assert max_starts_within(found, 0.9) <= 20
    # Starts 61-70 come three periods after the first: no sooner, and not much later
    # (slots of 1/20 period, delayed wake-ups, a few hops of wake-ups in each period).
    assert 3.0 - 0.05 <= span <= 3.0 + 1.5


def test_another_instance_is_served_while_a_big_fan_out_waits(client, limit_workers, tmp_path):
    limit_workers(), limit_workers()
    big = fan_out(client, tmp_path, "lim_two", 120, sleep=0.05, tag="big")
    wait_until(lambda: open_tasks(big, "scheduled") >= 100, what="the big fan-out waiting")
    asked = time.monotonic()
    small = fan_out(client, tmp_path, "lim_two", 4, sleep=0.05, tag="small")
    assert client.wait_for_completion(small, timeout=30).status == "completed"
    waited = time.monotonic() - asked
    big_done = open_tasks(big, "completed")
    report(
        "fairness, max_concurrency=2",
        small_done_after_seconds=round(waited, 2),
        big_done_then=f"{big_done}/120",
    )
    assert big_done <= 60, "the small instance waited for the big fan-out"
    assert client.wait_for_completion(big, timeout=60).status == "completed"
    assert max_overlap(runs(tmp_path)) <= 2


def test_a_killed_worker_gives_its_slots_back_when_its_lease_expires(
    client, limit_workers, tmp_path
):
    victim = limit_workers(DURABLE_ACTIVITY_LEASE_SECONDS="2")
    iid = fan_out(client, tmp_path, "lim_two", 8, sleep=1.0)
    tag = f":{victim.proc.pid}:"
    held = ActivityTask.objects.filter(instance=instance(iid), status="running")
    wait_until(lambda: held.filter(worker__contains=tag).count() == 2, what="both slots held")
    cut_off = list(held.values_list("pk", flat=True))
    victim.kill()
    killed_at = time.time()
    survivor = limit_workers()
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert state.output == 8
    for task in ActivityTask.objects.filter(pk__in=cut_off):
        assert task.runs == 2 and f":{survivor.proc.pid}:" in task.worker
    found = runs(tmp_path)
    # The killed runs stopped when their process died.
    ended = [r if r.end is not None else Run(r.tag, r.start, killed_at, r.pid) for r in found]
    resumed = min(r.start for r in found if r.pid == survivor.proc.pid)
    report(
        "kill with slots held, lease 2 s",
        slots_back_after_seconds=round(resumed - killed_at, 2),
        max_overlap=max_overlap(ended),
    )
    assert max_overlap(ended) <= 2
    assert resumed - killed_at < 2 + 5, "the slots came back once the lease expired"


def test_an_activity_with_its_own_queue_runs_only_in_the_pool_serving_it(
    client, real_broker, transactional_db, tmp_path
):
    main = DurableWorkerCommand(
        "--threads", "4", "--queues", "orchestrations,default", modules=MODULES
    )
    partner = DurableWorkerCommand("--threads", "2", "--queues", "lim-partner", modules=MODULES)
    try:
        for process in (main, partner):
            process.wait_for_output("worker running")
        routed = fan_out(client, tmp_path, "lim_partner", 10, sleep=0.05, tag="partner")
        plain = fan_out(client, tmp_path, "lim_plain", 10, tag="plain")
        for iid in (routed, plain):
            assert client.wait_for_completion(iid, timeout=60).status == "completed"
    finally:
        main.stop(), partner.stop()
    assert {r.pid for r in runs(tmp_path, "partner")} == {partner.proc.pid}
    assert {r.pid for r in runs(tmp_path, "plain")} == {main.proc.pid}
    assert max_overlap(runs(tmp_path, "partner")) <= 2
