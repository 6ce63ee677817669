"""Workers refuse to start when their code cannot run the instances they would pick up."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import CommandError, call_command

from tests.support import workers
from tests.support.checks import wait_until
from tests.support.episodes import run_episode
from tests.support.observed import kinds, row
from tests.support.versioning_workflows import old_release, registry_with, tv_checkout_reordered
from workflows.client import DurableClient
from workflows.engine import IncompatibleCode
from workflows.runtime.worker import Worker
from workflows.versioning import missing_code, verify_deployment


def start_retired():
    """An instance started by an older release on a version this code no longer has."""
    return DurableClient(registry=old_release()).start("tv_retired", None)


def test_missing_code_lists_removed_versions_and_activities(db):
    iid = start_retired()
    run_episode(row(iid).pk, registry=old_release())  # the old release scheduled its step

    missing = missing_code()

    assert [(m.kind, m.name, m.version, m.instances) for m in missing] == [
        ("activity", "tv_retired_step", None, 1),
        ("orchestrator", "tv_retired", 1, 1),
    ]
    assert f"e.g. instance {iid!r}" in str(missing[1])


@pytest.mark.integration
def test_worker_refuses_to_start_unless_forced(transactional_db):
    iid = start_retired()
    before = set(threading.enumerate())

    with pytest.raises(IncompatibleCode) as error:
        Worker(threads=1).start()
    started_by_refused = set(threading.enumerate()) - before
    forced = Worker(threads=1, force=True)
    forced.start()
    try:
        started_by_forced = {t.name for t in set(threading.enumerate()) - before}
        # The forced worker runs: the instance's episode is refused and flagged instead.
        wait_until(lambda: row(iid).needs_attention, what="the forced worker to run it")
    finally:
        forced.stop()

    assert "orchestrator 'tv_retired' version 1 is not registered" in str(error.value)
    assert iid in str(error.value)
    assert not started_by_refused  # no consumer, no sweeper
    assert "durable-sweeper" in started_by_forced
    assert "'tv_retired'" in row(iid).attention_reason


def test_the_setting_skips_the_check(db, settings):
    start_retired()
    settings.DURABLE_SKIP_REPLAY_CHECK = True

    assert verify_deployment() == []
    settings.DURABLE_SKIP_REPLAY_CHECK = False
    with pytest.raises(IncompatibleCode):
        verify_deployment()


def test_forcing_returns_the_problems_instead_of_raising(db):
    iid = start_retired()

    problems = verify_deployment(force=True)

    assert [p.example_instance_id for p in problems] == [iid]


@pytest.mark.integration
def test_a_full_replay_at_start_up_only_when_the_setting_asks(worker, settings):
    client = DurableClient()
    iid = client.start("tv_checkout", "A")
    wait_until(lambda: kinds(iid).count("activity_completed") == 2, what="tv_checkout to wait")
    reordered = registry_with(tv_checkout_reordered)

    quick = verify_deployment(registry=reordered)
    settings.DURABLE_STARTUP_FULL_REPLAY = True
    with pytest.raises(IncompatibleCode) as error:
        verify_deployment(registry=reordered)

    assert quick == []  # names and versions are all there
    assert f"{iid} (tv_checkout v1, running) at step 1: nondeterminism" in str(error.value)


def test_check_replay_quick_lists_what_is_missing(db):
    iid = start_retired()
    out = io.StringIO()

    with pytest.raises(CommandError, match="cannot be replayed"):
        call_command("durable", "check-replay", "--quick", stdout=out)

    assert (
        "MISSING orchestrator 'tv_retired' version 1 is not registered, but 1 active "
        f"instance(s) run on it (e.g. instance {iid!r})"
    ) in out.getvalue()


@pytest.mark.integration
def test_durable_worker_exits_non_zero_and_starts_with_force(transactional_db):
    iid = start_retired()
    modules = "tests.support.workflows,tests.support.versioning_workflows"

    refused = workers.DurableWorkerCommand(modules=modules)
    refused_code = refused.wait(60)
    forced = workers.DurableWorkerCommand("--force", modules=modules)
    try:
        forced.wait_for_output("worker running")
        wait_until(lambda: row(iid).needs_attention, what="the forced worker to run it")
    finally:
        forced_code = forced.stop()

    assert refused_code == 1, refused.output
    assert "cannot be replayed by this worker's code" in refused.output
    assert "orchestrator 'tv_retired' version 1 is not registered" in refused.output
    assert "starting anyway (--force)" in forced.output
    assert forced_code == 0, forced.output


def test_durable_serve_refuses_too(db):
    start_retired()

    with pytest.raises(CommandError, match="orchestrator 'tv_retired' version 1"):
        call_command("durable", "serve", "--no-demo", "--port", "0", stdout=io.StringIO())
