"""Limits across real `durable worker` processes on PostgreSQL and a real broker.

Two processes of four threads each share every limit through the database. Each run of
a test activity leaves a file with its start and end (tests/support/limit_workflows.py),
so overlap is measured from what actually ran, in every process. The rate is read from
what the limiter decided (the windows of starts it saved), never from clocks read a
moment later. Where a test needs slots held, the runs wait at a gate the test opens.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.limits.conftest import MODULES
from tests.support.checks import instance, wait_until
from tests.support.limit_workflows import (
    SLOTS_PER_PERIOD,
    Run,
    max_overlap,
    most_starts_in_a_period,
    runs,
    starts_per_slot,
)
from tests.support.workers import DurableWorkerCommand
from workflows.models import ActivityTask

pytestmark = [pytest.mark.postgres, pytest.mark.integration]


def report(what: str, **numbers: object) -> None:
    """Measurements, shown with ``pytest -s`` (and in the log of a failing test)."""
    print(f"\n[limits] {what}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


def fan_out(client, directory, activity, count, sleep=0.0, tag="run", gate=None):
    spec = {"activity": activity, "count": count, "sleep": sleep, "dir": str(directory)}
    if gate is not None:
        spec["gate"] = str(gate)
    return client.start("lim_fan_out", {**spec, "tag": tag})


def tasks_of(iid, status=None):
    tasks = ActivityTask.objects.filter(instance=instance(iid))
    return tasks if status is None else tasks.filter(status=status)


def claim_order(*iids):
    """The instance of each claim, in the order the limiter made them: claims queue on the
    activity's row lock and read their start time holding it."""
    tasks = ActivityTask.objects.filter(instance__instance_id__in=iids, started_at__isnull=False)
    return list(tasks.order_by("started_at").values_list("instance__instance_id", flat=True))


def test_two_hundred_calls_never_run_more_than_five_at_once(client, limit_workers, tmp_path):
    first, second = limit_workers(), limit_workers()
    gate = tmp_path / "gate"
    iid = fan_out(client, tmp_path, "lim_five", 200, sleep=0.02, gate=gate)
    # Every run waits at the gate: the limiter fills the five slots, then gives no sixth.
    wait_until(lambda: tasks_of(iid, "running").count() == 5, what="five slots taken")
    held = tasks_of(iid, "running").count()
    gate.touch()
    state = client.wait_for_completion(iid, timeout=90)
    assert state.status == "completed", state.failure
    assert state.output == 200
    found = runs(tmp_path)
    assert len(found) == 200 and all(r.end is not None for r in found)
    # A slot is held from the claim to the commit of the result (with the next episode).
    slots = [
        Run("slot", start.timestamp(), end.timestamp(), 0)
        for start, end in tasks_of(iid).values_list("started_at", "finished_at")
    ]
    report(
        "max_concurrency=5, 200 calls",
        max_overlap=max_overlap(found),
        max_slots_held=max_overlap(slots),
    )
    assert held == 5, "the limit is a ceiling, not a crawl"
    assert max_overlap(found) <= 5
    assert max_overlap(slots) == 5
    # Four threads a process: five runs held at the gate were in both processes.
    assert {r.pid for r in found} == {first.proc.pid, second.proc.pid}, "both processes served"
    assert {(t.runs, t.attempt) for t in tasks_of(iid)} == {(1, 1)}, "waiting is no attempt"


def test_a_rate_of_twenty_per_second_is_kept(client, limit_workers, limiter_log, tmp_path):
    limit_workers(), limit_workers()
    iid = fan_out(client, tmp_path, "lim_rate", 70)
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert len(runs(tmp_path)) == 70
    windows = limiter_log("lim_rate")
    slots = starts_per_slot(windows, period=1.0)
    report(
        "rate_limit=20/s, 70 calls",
        starts_allowed=sum(slots.values()),
        most_in_a_period=most_starts_in_a_period(slots),
        first_to_last_slot_seconds=(max(slots) - min(slots)) / SLOTS_PER_PERIOD,
    )
    assert len(windows) == sum(slots.values()) == 70, "each start went through the limiter"
    assert max(sum(n for _slot, n in window) for window in windows) <= 20
    assert most_starts_in_a_period(slots) <= 20
    # Hence starts 61-70 are three periods after the first one at the soonest.
    assert max(slots) - min(slots) >= 3 * SLOTS_PER_PERIOD


def test_another_instance_is_served_while_a_big_fan_out_waits(client, limit_workers, tmp_path):
    limit_workers(), limit_workers()
    gate = tmp_path / "gate"
    big = fan_out(client, tmp_path, "lim_two", 120, sleep=0.05, tag="big", gate=gate)
    wait_until(lambda: tasks_of(big, "running").count() == 2, what="both slots held by big")
    small = fan_out(client, tmp_path, "lim_two", 4, sleep=0.05, tag="small", gate=gate)
    wait_until(lambda: tasks_of(small).count() == 4, what="the small fan-out's tasks")
    gate.touch()  # 118 calls of big and 4 of small wait for the two slots now
    assert client.wait_for_completion(small, timeout=60).status == "completed"
    assert client.wait_for_completion(big, timeout=60).status == "completed"
    order = claim_order(big, small)
    last_small = max(i for i, iid in enumerate(order) if iid == small)
    report(
        "fairness, max_concurrency=2",
        claims_before_smalls_last=last_small,
        big_claims_after_it=len(order) - last_small - 1,
    )
    assert order[:2] == [big, big]
    # Round robin over instances: from then on the two take turns while both wait.
    assert order[2 : last_small + 1] == [small, big, small, big, small, big, small]
    assert max_overlap(runs(tmp_path)) <= 2


def test_a_killed_worker_gives_its_slots_back_when_its_lease_expires(
    client, limit_workers, tmp_path
):
    victim = limit_workers()
    gate = tmp_path / "gate"
    iid = fan_out(client, tmp_path, "lim_two", 8, gate=gate)
    # Both runs started (their files written) and wait at the gate: both slots are held.
    wait_until(lambda: len(runs(tmp_path)) == 2, what="two runs in the victim")
    cut_off = list(tasks_of(iid, "running").values_list("pk", flat=True))
    assert len(cut_off) == 2
    assert {r.pid for r in runs(tmp_path)} == {victim.proc.pid}
    victim.kill()
    killed_at = timezone.now().timestamp()
    # Both slots stay taken by the dead process until their leases run out (no renewal
    # comes from it any more): they end now, as they would have a lease's length later.
    ActivityTask.objects.filter(pk__in=cut_off).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    gate.touch()
    survivor = limit_workers()
    state = client.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert state.output == 8
    for task in ActivityTask.objects.filter(pk__in=cut_off):
        assert task.runs == 2 and f":{survivor.proc.pid}:" in task.worker
    found = runs(tmp_path)
    # The killed runs stopped when their process died.
    ended = [r if r.end is not None else Run(r.tag, r.start, killed_at, r.pid) for r in found]
    report("kill with slots held", max_overlap=max_overlap(ended), runs=len(found))
    assert {r.pid for r in found if r.end is None} == {victim.proc.pid}
    assert len(found) == 8 + 2
    assert max_overlap(ended) <= 2


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
