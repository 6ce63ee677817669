"""Codec mode (the Redis suite runs with DURABLE_PAYLOAD_CODEC=aesgcm, scripts/run_tests.py):
after real workers ran instances, no payload column of any row holds clear text."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from tests.support.checks import wait_until
from tests.support.workers import uses_real_broker
from workflows.conf import conf
from workflows.payloads.fields import TEXT_MARK
from workflows.payloads.rotation import payload_tables

SECRET = "SECRET-at-rest-5500"
KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="


@pytest.fixture
def codec_on(settings):
    """The codec of the environment (the Redis suite's), else on for in-process workers."""
    if not conf.PAYLOAD_CODEC:
        if uses_real_broker():
            pytest.skip("codec mode only: worker processes run with DURABLE_PAYLOAD_CODEC unset")
        settings.DURABLE_PAYLOAD_CODEC = "aesgcm"
        settings.DURABLE_PAYLOAD_KEYS = {"t1": KEY}
        settings.DURABLE_PAYLOAD_KEY_ID = "t1"
    return conf.PAYLOAD_KEY_ID


def raw_payloads() -> list[str]:
    """Every non-null payload column of every row, read with a plain cursor (no codec)."""
    quote = connection.ops.quote_name
    texts = []
    with connection.cursor() as cursor:
        for model, columns in payload_tables():
            names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
            cursor.execute(f"SELECT {names} FROM {quote(model._meta.db_table)}")
            for row in cursor.fetchall():
                # None: no value; "": an empty text column (says "none")
                texts += [v if isinstance(v, str) else json.dumps(v) for v in row if v]
    return texts


def test_rows_hold_no_clear_text_after_workers_ran(codec_on, running_workers, client):
    chain = client.start("t_chain", 3, business_key="at-rest")
    waiting = client.start("t_wait_event", None)
    client.raise_event(waiting, "approve", {"card": SECRET})
    wait_until(lambda: client.get_status(chain).status == "completed", what="the chain")
    wait_until(lambda: client.get_status(waiting).status == "completed", what="the event")
    assert client.get_status(waiting).output == {"got": {"card": SECRET}}
    assert client.get_status(chain).output == 3

    texts = raw_payloads()
    assert texts and not [t for t in texts if SECRET in t]
    envelopes = [json.loads(t.removeprefix(TEXT_MARK)) for t in texts]
    assert {e.get("$p") for e in envelopes} == {"aesgcm"}
    assert {e.get("$k") for e in envelopes} == {codec_on}
