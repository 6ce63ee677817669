"""`durable rotate-key`: every row re-encrypted under the new key, under load, resumably."""

from __future__ import annotations

import json
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests.payloads.conftest import SECRET
from tests.payloads.support import envelope, raw_text, rows_of_every_kind
from tests.support.checks import wait_until
from workflows.client import DurableClient
from workflows.models import HistoryEvent, Instance
from workflows.payloads.rotation import payload_tables, remaining, rotate


def raw_texts() -> list[str]:
    """Every non-null payload column of every row, as the database holds it."""
    texts = []
    for model, columns in payload_tables():
        for pk in model._default_manager.values_list("pk", flat=True):
            texts += [t for c in columns if (t := raw_text(model, c, pk)) is not None]
    return texts


def key_ids(texts: list[str]) -> set[str | None]:
    found = set()
    for text in filter(None, texts):  # an empty text column says "none"
        stored = envelope(text) if text.startswith(("{", "$p:")) else None
        found.add(stored.get("$k") if isinstance(stored, dict) else None)
    return found


@pytest.mark.django_db
def test_rotation_moves_every_row_to_the_new_key_and_reads_stay_the_same(encrypted):
    rows = rows_of_every_kind()
    for model, columns in payload_tables():
        if model in rows:
            model.objects.filter(pk=rows[model].pk).update(**dict.fromkeys(columns, SECRET))
    assert key_ids(raw_texts()) == {"k1"}
    encrypted.DURABLE_PAYLOAD_KEY_ID = "k2"
    assert sum(remaining().values()) > 0

    totals = rotate(batch=2)

    assert sum(totals.values()) == len(rows)
    assert sum(remaining().values()) == 0
    assert key_ids(raw_texts()) == {"k2"}
    encrypted.DURABLE_PAYLOAD_KEYS = {"k2": encrypted.DURABLE_PAYLOAD_KEYS["k2"]}  # k1 gone
    assert Instance.objects.get(pk=rows[Instance].pk).input == SECRET


@pytest.mark.django_db
def test_rotation_encrypts_rows_written_before_the_codec_was_on(settings, encrypted):
    encrypted.DURABLE_PAYLOAD_CODEC = ""
    inst = rows_of_every_kind()[Instance]
    Instance.objects.filter(pk=inst.pk).update(input={"card": SECRET})
    assert SECRET in raw_text(Instance, "input", inst.pk)
    encrypted.DURABLE_PAYLOAD_CODEC = "aesgcm"
    rotate()
    assert SECRET not in raw_text(Instance, "input", inst.pk)
    # and back: with the codec off, rotate-key decrypts
    encrypted.DURABLE_PAYLOAD_CODEC = ""
    rotate()
    assert json.loads(raw_text(Instance, "input", inst.pk)) == {"card": SECRET}


class Interrupted(Exception):
    pass


@pytest.mark.django_db
def test_an_interrupted_rotation_continues_where_it_stopped(encrypted):
    inst = rows_of_every_kind()[Instance]
    now = timezone.now()
    HistoryEvent.objects.bulk_create(
        HistoryEvent(
            instance=inst, execution_id="e1", seq=n, kind="k", payload={"n": n}, timestamp=now
        )
        for n in range(2, 32)
    )
    encrypted.DURABLE_PAYLOAD_KEY_ID = "k2"
    seen = []

    def stop_after_two(progress):
        seen.append(progress.line())
        if len(seen) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        rotate(batch=5, report=stop_after_two, tables=[(HistoryEvent, ["payload"])])
    left = remaining([(HistoryEvent, ["payload"])])["workflows.historyevent"]
    assert 0 < left < 31  # two batches were committed, the rest still under k1
    lines = []
    totals = rotate(batch=5, report=lambda p: lines.append(p.line()))
    assert totals["workflows.historyevent"] == left  # only what was left
    assert sum(remaining().values()) == 0
    assert "workflows.historyevent: 5 rewritten up to id" in lines[0]


@pytest.mark.django_db
def test_the_command_prints_progress_and_what_is_left(encrypted):
    inst = rows_of_every_kind()[Instance]
    Instance.objects.filter(pk=inst.pk).update(input=SECRET)
    encrypted.DURABLE_PAYLOAD_KEY_ID = "k2"
    out = StringIO()
    call_command("durable", "rotate-key", "--check", stdout=out)
    assert "workflows.instance: 1 row(s) not under key 'k2'" in out.getvalue()
    out = StringIO()
    call_command("durable", "rotate-key", "--batch", "10", stdout=out)
    text = out.getvalue()
    assert "workflows.instance: 1 rewritten up to id" in text
    assert "done: every stored payload is under key 'k2'" in text
    out = StringIO()
    call_command("durable", "rotate-key", "--json", stdout=out)
    assert json.loads(out.getvalue())["left"]["workflows.instance"] == 0


def test_rotation_under_load_leaves_no_row_on_the_old_key(worker, encrypted):
    """Instances keep starting and running while rotate-key runs, twice (the first stopped
    half-way); all finish with the right output and no row is left under k1."""
    client = DurableClient()
    first = [client.start("t_chain", 4) for _ in range(10)]
    encrypted.DURABLE_PAYLOAD_KEY_ID = "k2"  # every thread of this process writes with k2 now
    stop = threading.Event()
    more: list[str] = []

    def keep_starting():
        while not stop.is_set() and len(more) < 40:
            more.append(client.start("t_chain", 3))
        connection.close()

    starter = threading.Thread(target=keep_starting)
    starter.start()

    def interrupt(_progress):
        raise Interrupted

    try:
        with pytest.raises(Interrupted):
            rotate(batch=3, report=interrupt)  # stopped after its first batch
        rotate(batch=3)  # run again: continues
    finally:
        stop.set()
        starter.join()
    everything = first + more
    wait_until(
        lambda: (
            Instance.objects.filter(instance_id__in=everything, status="completed").count()
            == len(everything)
        ),
        timeout=60,
    )
    outputs = dict(
        Instance.objects.filter(instance_id__in=everything).values_list("instance_id", "output")
    )
    assert all(outputs[i] == 6 for i in first) and all(outputs[i] == 3 for i in more)
    assert "k1" not in key_ids(raw_texts())
    assert sum(remaining().values()) == 0
