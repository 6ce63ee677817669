"""`durable entity get|signal|list|purge`; bad input is one CommandError naming it."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from workflows.entities.batches import run_entity
from workflows.entities.models import Entity, EntityOperation

pytestmark = pytest.mark.django_db


def durable(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("durable", "entity", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_signal_get_list_purge():
    assert "queued" in durable("signal", "t_log", "a", "append", "--input", '{"n": 1}')
    assert (
        "already sent"
        in durable("signal", "t_log", "a", "append", "--input", "2", "--signal-id", "x")
        or EntityOperation.objects.count() == 2
    )
    assert "already sent" in durable(
        "signal", "t_log", "a", "append", "--input", "2", "--signal-id", "x"
    )
    row = Entity.objects.get()
    run_entity(row.pk, row.task_hub)
    assert durable("get", "t_log", "a").strip() == '@t_log@a v1: [{"n": 1}, 2]'
    assert json.loads(durable("list", "--name", "t_log", "--json"))[0]["state"] == [{"n": 1}, 2]
    assert durable("purge", "t_log", "a").strip() == "purged @t_log@a"
    assert not Entity.objects.exists()


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("signal", "nope", "a", "x"), "No entity 'nope'"),
        (("signal", "t_log", "a", "steal"), "has no operation 'steal'"),
        (("signal", "t_log", "a"), "needs the operation"),
        (("signal", "t_log", "a", "append", "--input", "{bad"), "--input"),
        (("get", "t_log"), "NAME and KEY"),
        (("get", "t_log", "none"), "No entity @t_log@none"),
    ],
)
def test_bad_input_is_one_error_and_nothing_queued(args, text):
    with pytest.raises(CommandError, match=text):
        durable(*args)
    assert not EntityOperation.objects.exists()
