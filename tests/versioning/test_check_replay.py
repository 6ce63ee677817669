"""`durable check-replay`: replay instances against the code now deployed, writing nothing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from tests.support import versioning_workflows as vw
from tests.support import workers
from tests.support.checks import wait_until
from tests.support.observed import kinds
from tests.support.observed import row as instance
from workflows.models import HistoryEvent, Instance
from workflows.versioning import check_replay

pytestmark = pytest.mark.integration


def start_waiting(client, order):
    """A tv_checkout instance that reserved, charged, and now waits for "ship"."""
    iid = client.start("tv_checkout", order)
    wait_until(
        lambda: (
            kinds(iid).count("activity_completed") == 2
            and client.get_status(iid).status == "running"
        ),
        what=f"{iid} to wait for the ship event",
    )
    return iid


def durable(*args):
    """Run `durable ...` in this process; (stdout, the CommandError or None)."""
    out = io.StringIO()
    try:
        call_command("durable", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def state_of_the_database():
    return (
        list(Instance.objects.order_by("pk").values_list("pk", "status", "updated_at")),
        HistoryEvent.objects.count(),
    )


def test_unchanged_code_replays_every_running_instance(worker, durable_client):
    ids = [start_waiting(durable_client, order) for order in ("A", "B")]

    report = check_replay()
    out, error = durable("check-replay")

    assert report.ok, report.problems
    assert report.active_checked == len(ids)
    assert error is None
    assert "ok: 2 active instance(s) replay" in out


def test_reordered_activities_are_reported_with_the_instance_and_the_step(worker, durable_client):
    iid = start_waiting(durable_client, "A")
    before = state_of_the_database()

    report = check_replay(registry=vw.registry_with(vw.tv_checkout_reordered))

    [problem] = report.problems
    assert (problem.instance_id, problem.kind, problem.step) == (iid, "nondeterminism", 1)
    assert "'tv_reserve'" in problem.message and "'tv_charge'" in problem.message
    assert state_of_the_database() == before  # nothing written


def test_check_replay_command_fails_after_an_incompatible_deploy(worker, durable_client, deploy):
    bad = start_waiting(durable_client, "A")
    deploy(reordered=True)

    out, error = durable("check-replay")

    assert error is not None
    assert "1 instance(s) cannot be replayed" in str(error)
    assert f"MISMATCH {bad} (tv_checkout v1, running) at step 1: nondeterminism" in out
    assert "history recorded activity 'tv_reserve'" in out
    assert "the code now produced activity 'tv_charge'" in out


def test_check_replay_json_lists_the_problems(worker, durable_client, deploy):
    bad = start_waiting(durable_client, "A")
    deploy(reordered=True)

    out, error = durable("check-replay", "--json")

    report = json.loads(out)
    assert error is not None
    assert report["ok"] is False
    assert report["active_checked"] == 1
    [problem] = report["problems"]
    assert (problem["instance_id"], problem["step"], problem["kind"]) == (
        bad,
        1,
        "nondeterminism",
    )


def test_a_change_guarded_by_is_patched_replays(worker, durable_client):
    start_waiting(durable_client, "A")

    report = check_replay(registry=vw.registry_with(vw.tv_checkout_patched))

    assert report.ok, report.problems


def test_a_removed_orchestrator_or_version_is_reported(worker, durable_client):
    iid = start_waiting(durable_client, "A")
    pending = durable_client.start("tv_order", "B", version=1)
    # The next release registers tv_checkout as version 2 only, and drops tv_order.
    next_release = vw.registry_with(vw.tv_checkout, version=2)

    report = check_replay(registry=next_release)

    by_id = {p.instance_id: p for p in report.problems}
    assert set(by_id) == {iid, pending}
    assert by_id[iid].kind == "unknown_version"
    assert "'tv_checkout' version 1" in by_id[iid].message
    # An instance not started yet needs its code just the same.
    assert by_id[pending].kind == "unknown_version"
    assert "'tv_order'" in by_id[pending].message


def test_all_also_compares_how_finished_instances_ended(worker, durable_client):
    iid = start_waiting(durable_client, "A")
    durable_client.raise_event(iid, "ship", "today")
    assert durable_client.wait_for_completion(iid, timeout=30).status == "completed"
    changed = vw.registry_with(vw.tv_checkout_new_output)

    active_only = check_replay(registry=changed)
    with_finished = check_replay(registry=changed, include_finished=True)
    unchanged = check_replay(include_finished=True)

    assert active_only.ok and active_only.finished_checked == 0
    [problem] = with_finished.problems
    assert (problem.instance_id, problem.kind) == (iid, "different_result")
    assert "'new field'" in problem.message
    assert unchanged.ok and unchanged.finished_checked == 1


def test_name_limits_the_check_to_one_orchestrator(worker, durable_client, deploy):
    start_waiting(durable_client, "A")
    other = durable_client.start("tv_wait", None)
    wait_until(lambda: instance(other).history_length > 0, what="tv_wait to start")
    deploy(reordered=True)

    wait_only, error_wait = durable("check-replay", "--name", "tv_wait")
    _, error_checkout = durable("check-replay", "--name", "tv_checkout")

    assert error_wait is None and "ok: 1 active" in wait_only
    assert error_checkout is not None


def run_check_replay(modules):
    """`manage.py durable check-replay` in a process loading only ``modules``."""
    env = {
        **os.environ,
        "DATABASE_URL": workers.test_database_url(),
        "DURABLE_WORKFLOW_MODULES": modules,
        "PYTHONPATH": str(workers.ROOT),
    }
    return subprocess.run(
        [sys.executable, "manage.py", "durable", "check-replay"],
        cwd=workers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_replay_exits_non_zero_where_the_code_is_missing(worker, durable_client):
    iid = start_waiting(durable_client, "A")

    without = run_check_replay("tests.support.workflows")
    with_code = run_check_replay("tests.support.workflows,tests.support.versioning_workflows")

    assert without.returncode == 1, without.stderr
    assert f"MISMATCH {iid} (tv_checkout v1, running): unknown_version" in without.stdout
    assert "cannot be replayed" in without.stderr
    assert with_code.returncode == 0, with_code.stdout + with_code.stderr
    assert "ok: 1 active instance(s)" in with_code.stdout
