"""`durable schedule …`: create, list, pause, resume, trigger, backfill, delete; a bad
option is one CommandError naming it, with nothing created."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from workflows.models import Instance
from workflows.schedules.models import Schedule

pytestmark = pytest.mark.django_db


def durable(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("durable", "schedule", *args, stdout=out, stderr=err)
    return out.getvalue()


CREATE = (
    "create", "nightly", "--orchestrator", "s_quick", "--cron", "30 2 * * *",
    "--timezone", "Europe/Berlin", "--overlap", "allow_all", "--input", '{"keep_days": 30}',
)  # fmt: skip


def test_create_list_pause_resume_trigger_backfill_delete():
    assert durable(*CREATE).startswith("created nightly: s_quick 30 2 * * * (Europe/Berlin); next ")
    assert Schedule.objects.get().input == {"keep_days": 30}
    assert "nightly: s_quick" in durable("list")

    assert "paused by cli: tonight's migration" in durable(
        "pause", "nightly", "--note", "tonight's migration"
    )
    assert Schedule.objects.get().paused
    assert "next " in durable("resume", "nightly")

    started = durable("trigger", "nightly").strip()
    assert started.startswith("started: nightly@")
    assert Instance.objects.filter(instance_id=started.split(": ")[1]).exists()

    printed = durable(
        "backfill",
        "nightly",
        "--start",
        "2026-01-01T00:00Z",
        "--end",
        "2026-01-02T23:00Z",
        "--json",
    )
    assert json.loads(printed)["started"] == 2

    assert durable("delete", "nightly").strip() == "deleted nightly"
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--cron", "not cron"), "cron"),
        (("--cron", "* * * * *", "--timezone", "Mars/Base"), "timezone"),
        (("--interval", "60", "--offset", "60"), "offset"),
        (
            (
                "--cron",
                "* * * * *",
                "--start-at",
                "2030-02-01T00:00Z",
                "--end-at",
                "2030-01-01T00:00Z",
            ),
            "end_at",
        ),
    ],
)
def test_a_bad_option_is_refused_naming_it(args, named):
    with pytest.raises(CommandError, match=named):
        durable("create", "bad", "--orchestrator", "s_quick", *args)
    assert not Schedule.objects.exists()


def test_an_unknown_orchestrator_or_missing_id_is_refused():
    with pytest.raises(CommandError, match="orchestrator"):
        durable("create", "x", "--orchestrator", "nope", "--cron", "* * * * *")
    with pytest.raises(CommandError, match="needs the schedule id"):
        durable("pause")
    with pytest.raises(CommandError, match="No schedule 'ghost'"):
        durable("trigger", "ghost")
