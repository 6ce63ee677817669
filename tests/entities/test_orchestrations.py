"""Entities with a running worker: calls and their errors, signals from many instances,
locks contended by two orchestrations, a holder that fails or is terminated."""

from __future__ import annotations

import pytest

from tests.support.checks import wait_until
from workflows.entities.models import Entity, EntityOperation
from workflows.runtime.sweeper import sweep_once

pytestmark = pytest.mark.django_db(transaction=True)


def _state(name: str, key: str):
    row = Entity.objects.filter(name=name, key=key).first()
    return row.state if row is not None else None


def _done(client, iid: str):
    return client.wait_for_completion(iid, timeout=60)


def test_call_results_and_errors_come_back_and_replay(worker, durable_client):
    iid = durable_client.start("t_call", "k1")
    state = _done(durable_client, iid)
    assert state.status == "completed", state.failure
    assert state.output["items"] == ["signal", "call"]
    assert state.output["size"] == 2
    assert "boom 1" in state.output["error"]
    kinds = [e["kind"] for e in durable_client.history(iid)]
    assert kinds.count("entity_called") == 3 and kinds.count("entity_signaled") == 1
    assert "entity_call_failed" in kinds


def test_signals_from_many_instances_each_count_once(worker, durable_client):
    ids = [durable_client.start("count_processed", {"count": 3}) for _ in range(6)]
    for iid in ids:
        assert _done(durable_client, iid).status == "completed"
    wait_until(
        lambda: (_state("running_total", "processed_files") or {}).get("runs") == 6,
        what="six runs added",
    )
    assert _state("running_total", "processed_files") == {"total": 18, "runs": 6}


def test_two_transfers_contending_for_the_same_accounts(worker, durable_client):
    durable_client.signal_entity(("bank_account", "a"), "deposit", 100)
    durable_client.signal_entity(("bank_account", "b"), "deposit", 100)
    ids = [
        durable_client.start("transfer_funds", {"from": "a", "to": "b", "amount": 70}),
        durable_client.start("transfer_funds", {"from": "b", "to": "a", "amount": 30}),
        durable_client.start("transfer_funds", {"from": "a", "to": "b", "amount": 70}),
    ]
    outputs = [_done(durable_client, iid).output for iid in ids]
    moved = [o for o in outputs if o["transferred"]]
    a, b = _state("bank_account", "a")["balance"], _state("bank_account", "b")["balance"]
    assert a + b == 200 and a >= 0 and b >= 0
    assert len(moved) in (2, 3) and any(not o["transferred"] for o in outputs) == (len(moved) == 2)
    wait_until(lambda: not Entity.objects.exclude(lock_holder="").exists(), what="released")


def test_a_failed_deposit_is_compensated_inside_the_lock(worker, durable_client):
    durable_client.signal_entity(("bank_account", "c"), "deposit", 50)
    durable_client.signal_entity(("bank_account", "closed"), "close")
    iid = durable_client.start("transfer_funds", {"from": "c", "to": "closed", "amount": 20})
    output = _done(durable_client, iid).output
    assert output["transferred"] is False and "closed" in output["reason"]
    assert _state("bank_account", "c")["balance"] == 50


def test_a_holder_that_fails_releases_its_lock(worker, durable_client):
    holder = durable_client.start("t_hold", "held")
    wait_until(lambda: _state("t_log", "held") == [f"{holder}:in"], what="lock taken")
    durable_client.signal_entity(("t_log", "held"), "append", "outside")
    row = Entity.objects.get(name="t_log", key="held")
    assert row.lock_holder == holder
    wait_until(lambda: EntityOperation.objects.filter(entity=row).exists(), what="queued")
    assert _state("t_log", "held") == [f"{holder}:in"]  # the outside signal waits
    durable_client.raise_event(holder, "go", "fail")
    assert _done(durable_client, holder).status == "failed"
    wait_until(lambda: _state("t_log", "held")[-1] == "outside", what="released")
    assert _state("t_log", "held") == [f"{holder}:in", f"{holder}:out", "outside"]


def test_a_terminated_holder_loses_its_lock_at_the_next_sweep(worker, durable_client, settings):
    holder = durable_client.start("t_hold", "term")
    wait_until(lambda: _state("t_log", "term") == [f"{holder}:in"], what="lock taken")
    durable_client.terminate(holder, "stuck")
    durable_client.signal_entity(("t_log", "term"), "append", "after")
    settings.DURABLE_REDELIVER_AFTER_SECONDS = 0.01
    wait_until(
        lambda: sweep_once() and _state("t_log", "term")[-1] == "after",
        what="the sweeper woke the entity and the dead holder's lock went",
    )
    assert Entity.objects.get(name="t_log", key="term").lock_holder == ""
