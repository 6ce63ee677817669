"""`durable bulk ACTION …`: dry run, start and wait with a progress bar (or --no-wait),
status and cancel; every mistake one CommandError line, changing nothing."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from workflows.models import AuditEntry, BulkOperation, Instance

pytestmark = pytest.mark.django_db


def durable(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("durable", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_a_dry_run_prints_the_count_and_changes_nothing(make_instances):
    make_instances(3, "running", prefix="run")
    make_instances(1, "completed", prefix="done")

    printed = durable("bulk", "terminate", "--name", "t_wait_event", "--dry-run")

    assert "terminate would select 4 (1 completed, 3 running); 3 in a status it applies to" in (
        printed
    )
    assert "run-00000" in printed
    assert not BulkOperation.objects.exists()


def test_no_wait_starts_it_and_status_shows_it(make_instances, run_all):
    make_instances(2, "suspended")

    printed = durable(
        "bulk", "resume", "--status", "suspended,running", "--reason", "INC-5", "--no-wait"
    )

    operation = BulkOperation.objects.get()
    assert printed.strip() == f"started bulk resume #{operation.pk}: 2 target(s)"
    assert (operation.actor, operation.reason, operation.filter) == (
        "cli",
        "INC-5",
        {"status": ["running", "suspended"]},
    )
    run_all(operation.pk)
    shown = durable("bulk", "status", str(operation.pk))
    assert f"bulk resume #{operation.pk} completed: 2 matched" in shown
    assert "[" + "#" * 30 + "] 100% 2/2  done 2  skipped 0  failed 0" in shown
    listed = durable("bulk", "status", str(operation.pk), "--outcomes", "done")
    assert listed.splitlines()[0].split() == ["i-00000", "done"]


def test_cancel_from_the_command_line(make_instances):
    make_instances(2, "running")
    durable("bulk", "terminate", "--all", "--reason", "r", "--no-wait")
    operation = BulkOperation.objects.get()

    printed = durable("bulk", "cancel", str(operation.pk), "--reason", "oops")

    assert f"#{operation.pk} cancelled: 2 matched" in printed and "2 cancelled" in printed
    assert AuditEntry.objects.filter(action="bulk_cancel", actor="cli", note="oops").exists()


@pytest.mark.integration
def test_it_waits_with_a_progress_bar_until_the_workers_are_done(worker, make_instances):
    ids = make_instances(30, "running")

    printed = durable(
        "bulk", "suspend", "--id", ids[0], "--id", ids[1], "--id", "ghost", "--reason", "r"
    )

    assert "[" in printed and "100% 3/3  done 2  skipped 1  failed 0" in printed
    assert "skipped ghost: No instance 'ghost' exists" in printed
    data = json.loads(
        durable("bulk", "terminate", "--status", "running", "--reason", "r", "--json")
    )
    assert (data["status"], data["matched"], data["done"]) == ("completed", 28, 28)
    assert Instance.objects.filter(status="terminated").count() == 28


MISTAKES = [
    (("terminate", "--name", "x"), "--reason is required"),
    (("terminate", "--reason", "r"), "Say which targets"),
    (("terminate", "--activity", "x", "--reason", "r"), "--activity does not apply"),
    (("compensation-skip", "--status", "failed", "--reason", "r"), "--status does not apply"),
    (("compensation-skip", "--id", "x", "--reason", "r"), "is a record id"),
    (("terminate", "--status", "asleep", "--reason", "r"), "Unknown status 'asleep'"),
    (("terminate", "--created-before", "soon", "--reason", "r"), "not an ISO 8601"),
    (("terminate", "--all", "--id", "a", "--reason", "r"), "exclude each other"),
    (("terminate", "--id", "a b", "--reason", "r"), "Invalid instance id 'a b'"),
    (("raise-event", "--all", "--reason", "r"), "needs event_name"),
    (("raise-event", "--all", "--reason", "r", "--event", "go", "--data", "{x"), "not valid JSON"),
    (("status",), "needs the operation id"),
    (("status", "999"), "No bulk operation 999"),
    (("terminate", "7"), "only status/cancel take one"),
]


@pytest.mark.parametrize(("arguments", "message"), MISTAKES, ids=[m for _a, m in MISTAKES])
def test_mistakes_are_one_clear_error_and_change_nothing(make_instances, arguments, message):
    make_instances(2, "running")

    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        durable("bulk", *arguments)
    assert not BulkOperation.objects.exists()
    assert Instance.objects.filter(status="running").count() == 2
