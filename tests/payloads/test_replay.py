"""Replay and check-replay read encrypted (and offloaded) history as plain values."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from tests.payloads.conftest import SECRET
from tests.support.driver import drive
from workflows.client import DurableClient
from workflows.models import Instance
from workflows.runtime.cache import sticky_cache

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    from tests.support import workflows  # noqa: F401 - registers t_collect, t_chain

    return DurableClient()


def test_an_uncached_episode_replays_the_encrypted_history(client, encrypted, offloading):
    iid = client.start("t_collect", 3)
    client.raise_event(iid, "item", {"card": SECRET})
    client.raise_event(iid, "item", {"blob": "x" * 3000})  # offloaded
    drive(client.hub)
    sticky_cache().clear()  # the next episode must replay from the database
    client.raise_event(iid, "item", 3)
    drive(client.hub)
    inst = Instance.objects.get(instance_id=iid)
    assert inst.status == "completed"
    assert inst.output == [{"card": SECRET}, {"blob": "x" * 3000}, 3]


def test_check_replay_passes_with_the_codec_on(client, encrypted):
    running = client.start("t_collect", 2)
    client.raise_event(running, "item", {"card": SECRET})
    done = client.start("t_chain", 3)
    drive(client.hub)
    out = StringIO()
    call_command("durable", "check-replay", "--all", stdout=out)
    assert "ok: 1 active and 1 finished instance(s) replay" in out.getvalue()
    assert Instance.objects.get(instance_id=done).output == 3
