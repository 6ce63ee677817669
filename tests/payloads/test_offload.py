"""Large payloads by reference: offloaded to the storage, read back, deleted by purges."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.payloads.conftest import SECRET, stored_files
from tests.payloads.support import raw_text
from tests.support.driver import drive
from workflows.client import DurableClient
from workflows.models import ExternalEvent, HistoryEvent, Instance
from workflows.payloads.errors import PayloadTampered, StoredPayloadMissing
from workflows.query_client import LIST_PAYLOADS
from workflows.retention import purge_expired
from workflows.rules import InputTooLarge

pytestmark = pytest.mark.django_db

BIG = {"blob": "x" * 5000, "secret": SECRET}


@pytest.fixture
def client():
    from tests.support import workflows  # noqa: F401 - registers t_collect

    return DurableClient()


def collected(client: DurableClient, data) -> Instance:
    """A finished t_collect instance that received ``data`` as its one item."""
    iid = client.start("t_collect", 1)
    client.raise_event(iid, "item", data)
    drive(client.hub)
    inst = Instance.objects.get(task_hub=client.hub, instance_id=iid)
    assert inst.status == "completed" and inst.output == [data]
    return inst


def refs(inst: Instance) -> list[str]:
    texts = [raw_text(Instance, "output", inst.pk)]
    texts += [raw_text(ExternalEvent, "data", e.pk) for e in inst.events.all()]
    texts += [raw_text(HistoryEvent, "payload", h.pk) for h in inst.history.all()]
    return [json.loads(t)["ref"] for t in texts if t and '"$p": "ref"' in t]


def test_a_large_payload_goes_to_the_storage_and_the_row_keeps_a_reference(client, offloading):
    inst = collected(client, BIG)
    names = refs(inst)
    # the output, the event's data and its history event (event_raised)
    assert len(names) >= 3
    assert len(stored_files(offloading)) == len(names)
    assert SECRET not in raw_text(Instance, "output", inst.pk)
    event = inst.history.get(kind="event_raised")
    assert event.payload["data"] == BIG  # history reads through the reference
    small = collected(client, {"small": 1})
    assert refs(small) == []  # under the threshold: inline, as before


def test_offloaded_objects_are_encrypted_with_the_codec(client, offloading, encrypted):
    inst = collected(client, BIG)
    assert refs(inst)
    for path in stored_files(offloading):
        content = path.read_text()
        assert SECRET not in content and '"$k":"k1"' in content
    assert '"$k": "k1"' in raw_text(Instance, "output", inst.pk)  # found by rotate-key


def test_purge_deletes_the_stored_objects_after_commit(
    client, offloading, django_capture_on_commit_callbacks
):
    kept, purged = collected(client, BIG), collected(client, {**BIG, "n": 2})
    before = len(stored_files(offloading))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.purge(purged.instance_id) == 1
    left = stored_files(offloading)
    assert len(left) < before
    assert {p.relative_to(offloading).as_posix() for p in left} == set(refs(kept))


def test_retention_deletes_the_stored_objects_too(
    client, offloading, settings, django_capture_on_commit_callbacks
):
    settings.DURABLE_RETENTION_DAYS = 1
    inst = collected(client, BIG)
    Instance.objects.filter(pk=inst.pk).update(completed_at=timezone.now() - timedelta(days=2))
    assert stored_files(offloading)
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired(client.hub) == 1
    assert stored_files(offloading) == []


def test_a_rolled_back_purge_keeps_the_objects(client, offloading):
    inst = collected(client, BIG)
    before = stored_files(offloading)
    client.purge(inst.instance_id)  # the test's transaction never commits
    assert stored_files(offloading) == before


def test_a_missing_or_changed_object_is_a_clear_error(client, offloading):
    inst = collected(client, BIG)
    for path in stored_files(offloading):
        path.write_text(path.read_text().replace("x", "y", 1))
    with pytest.raises(PayloadTampered):
        Instance.objects.get(pk=inst.pk)
    for path in stored_files(offloading):
        path.unlink()
    with pytest.raises(StoredPayloadMissing, match="DURABLE_PAYLOAD_STORAGE"):
        Instance.objects.get(pk=inst.pk)


def test_the_hard_limit_still_applies_to_what_would_be_offloaded(client, offloading, settings):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 2048
    iid = client.start("t_collect", 1)
    with pytest.raises(InputTooLarge, match="DURABLE_MAX_PAYLOAD_BYTES"):
        client.raise_event(iid, "item", BIG)
    assert stored_files(offloading) == []


def test_a_list_reads_no_offloaded_payload_so_a_missing_object_breaks_no_list(client, offloading):
    inst = collected(client, BIG)
    for path in stored_files(offloading):
        path.unlink()
    with pytest.raises(StoredPayloadMissing):
        client.get_status(inst.instance_id)  # the one instance's page says what is missing
    page = client.query(payloads=LIST_PAYLOADS, count=True)
    assert [s.instance_id for s in page.items] == [inst.instance_id]
    item = page.items[0]
    assert (item.summary, item.input, item.output, item.status) == (True, None, None, "completed")
    out = StringIO()
    call_command("durable", "list", "--json", stdout=out)
    assert json.loads(out.getvalue())[0]["instance_id"] == inst.instance_id
