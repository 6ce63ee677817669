"""No stored object is left behind: saves keep their objects, dropped rows take theirs
along (continue-as-new, rewind), and `durable payloads gc` finds what a rolled-back write
left."""

from __future__ import annotations

import os
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from tests.payloads.conftest import SECRET, stored_files
from tests.support.driver import drive
from workflows.client import DurableClient
from workflows.effects import EpisodeEffects
from workflows.engine import FailureDetails, activity, orchestrator
from workflows.engine import actions as act
from workflows.engine.registry import default_registry
from workflows.models import CompensationRecord, Instance
from workflows.payloads import offload
from workflows.payloads.gc import collect, offloaded_tables
from workflows.recovery import decide_compensation, rewind
from workflows.statuses import CompensationStatus, InstanceStatus

pytestmark = pytest.mark.django_db

BLOB = "x" * 5000
FAILS = {"left": 1}


@activity(name="t_leftover_flaky")
def t_leftover_flaky(ctx, value):
    if FAILS["left"]:
        FAILS["left"] -= 1
        raise ValueError(f"refused {BLOB} {SECRET}")  # a failure large enough to offload
    return value


@orchestrator(name="t_leftover_once")
def t_leftover_once(ctx, value):
    return (yield ctx.call_activity("t_leftover_flaky", value))


@pytest.fixture
def client():
    from tests.support import workflows  # noqa: F401 - registers t_generations

    return DurableClient()


def referenced() -> set[str]:
    """Every object name some row's offloaded column references."""
    names: set[str] = set()
    for model, columns in offloaded_tables():
        names.update(offload.refs_in_rows(model._default_manager.all(), columns))
    return names


def stored(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in stored_files(folder)}


def assert_no_leftovers(folder) -> None:
    assert stored(folder) == referenced()


def age(folder, seconds: float) -> None:
    """Every stored object as if written ``seconds`` ago."""
    then = time.time() - seconds
    for path in stored_files(folder):
        os.utime(path, (then, then))


def test_continue_as_new_deletes_the_history_it_drops_and_the_input_it_replaces(
    client, offloading, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        iid = client.start("t_generations", {"n": 0, "until": 4, "blob": BLOB})
    assert len(stored(offloading)) == 1  # the instance's input
    with django_capture_on_commit_callbacks(execute=True):
        drive(client.hub)
    inst = Instance.objects.get(task_hub=client.hub, instance_id=iid)
    assert inst.status == InstanceStatus.COMPLETED and inst.generation == 4
    # The first execution's history is dropped and the large input replaced: both objects
    # went with them.
    assert stored(offloading) == set()
    assert_no_leftovers(offloading)


def test_rewind_deletes_the_objects_of_the_history_it_drops_and_saves_no_new_ones(
    client, offloading, django_capture_on_commit_callbacks
):
    FAILS["left"] = 1
    with django_capture_on_commit_callbacks(execute=True):
        iid = client.start("t_leftover_once", {"blob": BLOB})
        drive(client.hub)
    assert Instance.objects.get(instance_id=iid).status == InstanceStatus.FAILED
    before = stored(offloading)
    with django_capture_on_commit_callbacks(execute=True):
        rewind(iid, client.hub, reason="fixed")
    after_rewind = stored(offloading)
    # the offloaded failure events went; the input and the task's input were not stored again
    assert after_rewind < before and after_rewind
    assert_no_leftovers(offloading)
    with django_capture_on_commit_callbacks(execute=True):
        drive(client.hub)
    assert Instance.objects.get(instance_id=iid).output == {"blob": BLOB}
    assert_no_leftovers(offloading)


def _failed_compensation(client) -> CompensationRecord:
    inst = Instance.objects.create(
        task_hub=client.hub,
        instance_id="saga-1",
        name="t_chain",
        execution_id="e1",
        status=InstanceStatus.RUNNING,
    )
    return CompensationRecord.objects.create(
        instance=inst,
        execution_id="e1",
        task_id=3,
        compensation_id="c-1",
        activity="t_add",
        input={"blob": BLOB},
        order=1,
    )


def test_compensation_updates_keep_the_offloaded_input_object(
    client, offloading, django_capture_on_commit_callbacks
):
    record = _failed_compensation(client)
    before = stored(offloading)
    effects = EpisodeEffects(record.instance, timezone.now(), default_registry)
    failure = FailureDetails("ValueError", "boom")
    with django_capture_on_commit_callbacks(execute=True):
        effects.apply(act.UpdateCompensation(3, CompensationStatus.FAILED, failure, 2))
        decide_compensation(record.pk, "skip", None, "refunded by hand", client.hub)
    assert stored(offloading) == before
    assert CompensationRecord.objects.get(pk=record.pk).input == {"blob": BLOB}
    assert_no_leftovers(offloading)


def test_gc_deletes_old_unreferenced_objects_only(client, offloading):
    kept = _failed_compensation(client)
    with pytest.raises(RuntimeError), transaction.atomic():  # its object was saved
        Instance.objects.create(
            task_hub=client.hub, instance_id="rolled-back", name="t_chain", input=[BLOB]
        )
        raise RuntimeError("the write's transaction rolls back")
    assert len(stored(offloading)) == 2 and len(referenced()) == 1
    young = collect(report=lambda p: None)
    assert young.scanned == 2 and young.old == 0 and young.deleted == 0  # grace period

    age(offloading, 7200)
    lines = []
    dry = collect(dry_run=True, report=lambda p: lines.append(p.line()))
    assert (dry.old, dry.unreferenced, dry.deleted) == (2, 1, 0)
    assert len(stored(offloading)) == 2 and "would delete 1" in lines[-1]

    done = collect(batch=1)
    assert (done.old, done.unreferenced, done.deleted) == (2, 1, 1)
    assert_no_leftovers(offloading)
    assert CompensationRecord.objects.get(pk=kept.pk).input == {"blob": BLOB}


def test_the_gc_command_prints_progress_and_refuses_a_bad_duration(client, offloading):
    with pytest.raises(RuntimeError), transaction.atomic():
        Instance.objects.create(
            task_hub=client.hub, instance_id="rolled-back", name="t_chain", input=[BLOB]
        )
        raise RuntimeError("rolled back")
    (orphan,) = stored(offloading)
    age(offloading, 3 * 3600)
    out = StringIO()
    call_command("durable", "payloads", "gc", "--older-than", "4h", stdout=out)
    assert "0 past the grace period" in out.getvalue() and stored(offloading) == {orphan}
    out = StringIO()
    call_command("durable", "payloads", "gc", "--older-than", "2h", "--dry-run", stdout=out)
    assert f"unreferenced: {orphan}" in out.getvalue() and stored(offloading) == {orphan}
    out = StringIO()
    call_command("durable", "payloads", "gc", "--older-than", "90m", stdout=out)
    assert "done: 1 unreferenced object(s) deleted" in out.getvalue()
    assert stored(offloading) == set()
    for bad in ("1 hour", "0m", "-1h", "h"):
        with pytest.raises(CommandError, match="--older-than"):
            call_command("durable", "payloads", "gc", "--older-than", bad, stdout=StringIO())


def test_gc_with_no_storage_folder_has_nothing_to_do(offloading):
    result = collect()
    assert (result.scanned, result.deleted) == (0, 0)
