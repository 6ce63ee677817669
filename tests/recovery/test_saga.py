"""order_saga against the runtime: compensation, its failures, and operators' decisions."""

from __future__ import annotations

import logging

import pytest

from tests.samples.support import calls, drive
from tests.support.checks import assert_history_valid, instance, wait_until
from workflows.engine.errors import InvalidInput, InvalidState
from workflows.models import ActivityTask, AuditEntry, CompensationRecord
from workflows.samples.models import ServiceCall
from workflows.samples.order_saga import STEPS, UNDO
from workflows.signals import compensation_failed

ORDER = {"order_id": "o-7", "items": [{"sku": "MUG-3", "qty": 1}], "amount": 12.5}
EFFECT = {
    "reserve_inventory": ("inventory", "reserve"),
    "capture_payment": ("payments", "capture"),
    "create_shipment": ("shipping", "create"),
    "confirm_order": ("orders", "confirm"),
    "release_inventory": ("inventory", "release"),
    "refund_payment": ("payments", "refund"),
    "cancel_shipment": ("shipping", "cancel"),
}
BROKEN_REFUND = {
    **ORDER,
    "fail": {"step": "confirm_order", "mode": "permanent"},
    "fail_compensation": {"step": "refund_payment", "mode": "permanent"},
}


def records(iid):
    return list(CompensationRecord.objects.filter(instance__instance_id=iid).order_by("order"))


def undo_runs(iid):
    """Compensation activities in the order they were scheduled."""
    undos = set(UNDO.values())
    tasks = ActivityTask.objects.filter(instance__instance_id=iid).order_by("pk")
    return [t.name for t in tasks if t.name in undos]


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("olivia")


def wait_for_attention(client, iid):
    return wait_until(
        lambda: client.get_status(iid).needs_attention and client.get_status(iid),
        timeout=30,
        what="the instance to need attention",
    )


@pytest.mark.integration
@pytest.mark.parametrize("k", range(1, len(STEPS) + 1), ids=STEPS)
def test_permanent_failure_at_step_k_compensates_exactly_steps_k_minus_1_to_1(workers, client, k):
    failing = STEPS[k - 1]
    iid = client.start("order_saga", {**ORDER, "fail": {"step": failing, "mode": "permanent"}})
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "failed" and not state.needs_attention
    assert state.failure["type"] == "workflows.samples.order_saga.OrderFailed"
    done = list(STEPS[: k - 1])
    undone = [UNDO[step] for step in reversed(done)]
    assert calls("o-7") == [EFFECT[s] for s in done] + [EFFECT[u] for u in undone]
    assert undo_runs(iid) == undone
    assert [(r.order, r.step, r.activity, r.status) for r in records(iid)] == [
        (i, step, UNDO[step], "compensated") for i, step in enumerate(done, start=1)
    ]
    assert all(r.attempts == 1 for r in records(iid))
    refused = ServiceCall.objects.filter(reference="o-7", applied_at__isnull=True)
    assert [(r.operation, r.failures) for r in refused] == [(EFFECT[failing][1], 1)]
    assert_history_valid(iid, complete=True)


@pytest.mark.integration
def test_a_compensation_failing_transiently_is_retried(workers, client):
    order = {
        **ORDER,
        "fail": {"step": "confirm_order", "mode": "permanent"},
        "fail_compensation": {"step": "refund_payment", "mode": "transient", "times": 2},
    }
    iid = client.start("order_saga", order)
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "failed" and not state.needs_attention
    refund = next(r for r in records(iid) if r.activity == "refund_payment")
    assert (refund.status, refund.attempts) == ("compensated", 3)
    row = ServiceCall.objects.get(reference="o-7", operation="refund")
    assert (row.failures, row.executions) == (2, 1)
    assert [r.status for r in records(iid)] == ["compensated"] * 3


@pytest.mark.integration
def test_a_compensation_failing_for_good_waits_for_an_operator_who_resolves_it(
    local_worker, client, operator, caplog
):
    # The in-process worker on every backend: the signal and the log line happen in it.
    alerts = []

    def on_failed(sender, record, instance, **kwargs):
        alerts.append((record.activity, instance.instance_id))

    compensation_failed.connect(on_failed)
    runtime_log = logging.getLogger("workflows.runtime")
    runtime_log.addHandler(caplog.handler)
    try:
        iid = client.start("order_saga", BROKEN_REFUND, business_key="order-o-7")
        state = wait_for_attention(client, iid)
        wait_until(lambda: alerts, what="the compensation_failed signal")
    finally:
        compensation_failed.disconnect(on_failed)
        runtime_log.removeHandler(caplog.handler)

    assert alerts == [("refund_payment", iid)]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(iid in m and "order-o-7" in m and "capture_payment" in m for m in errors), errors
    assert state.status == "running"
    assert "refund_payment" in state.attention_reason
    assert state.custom_status["state"] == "compensation_failed"
    release, refund, cancel = records(iid)
    assert (cancel.status, refund.status, release.status) == (
        "compensated",
        "failed",
        "registered",  # waits behind the failed one: reverse order is kept
    )
    assert "rejected (failure switch)" in refund.last_error["message"]

    with pytest.raises(InvalidInput, match="note is required"):
        client.resolve_compensation(refund.pk, by=operator, note="  ")
    refund.refresh_from_db()
    assert refund.status == "failed"
    client.resolve_compensation(refund.pk, by=operator, note="refunded by hand in the PSP")

    state = client.wait_for_completion(iid, timeout=30)
    assert state.status == "failed" and not state.needs_attention
    assert "refund_payment (resolved_manually)" in state.failure["message"]
    release, refund, cancel = records(iid)
    assert [release.status, refund.status, cancel.status] == [
        "compensated",
        "resolved_manually",
        "compensated",
    ]
    assert (refund.resolved_by, refund.resolution) == (operator, "resolve")
    assert refund.resolution_note == "refunded by hand in the PSP"
    assert undo_runs(iid) == ["cancel_shipment", "refund_payment", "release_inventory"]
    entry = AuditEntry.objects.get(instance=instance(iid))
    assert (entry.action, entry.user, entry.note) == (
        "compensation_resolve",
        operator,
        "refunded by hand in the PSP",
    )
    with pytest.raises(InvalidState):
        client.retry_compensation(refund.pk, by=operator)  # decided already


@pytest.mark.integration
def test_retry_compensation_runs_it_again(workers, client, operator):
    order = {**BROKEN_REFUND, "fail_compensation": {**BROKEN_REFUND["fail_compensation"]}}
    order["fail_compensation"]["times"] = 1  # the outage is over by the time someone retries
    iid = client.start("order_saga", order)
    wait_for_attention(client, iid)
    refund = next(r for r in records(iid) if r.activity == "refund_payment")
    assert refund.status == "failed"

    client.retry_compensation(refund.pk, by=operator, note="PSP is back")
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "failed" and not state.needs_attention
    refund.refresh_from_db()
    assert (refund.status, refund.attempts, refund.resolution) == ("compensated", 2, "retry")
    row = ServiceCall.objects.get(reference="o-7", operation="refund")
    assert (row.failures, row.executions) == (1, 1)
    assert [r.status for r in records(iid)] == ["compensated"] * 3
    assert AuditEntry.objects.get(instance=instance(iid)).action == "compensation_retry"


@pytest.mark.integration
def test_skip_compensation_gives_it_up_on_purpose(workers, client, operator):
    iid = client.start("order_saga", BROKEN_REFUND)
    wait_for_attention(client, iid)
    refund = next(r for r in records(iid) if r.activity == "refund_payment")

    client.skip_compensation(refund.pk, by=operator, note="customer keeps the credit")
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "failed"
    assert "refund_payment (skipped)" in state.failure["message"]
    assert [r.status for r in records(iid)] == ["compensated", "skipped", "compensated"]
    assert not ServiceCall.objects.filter(operation="refund", applied_at__isnull=False).exists()
    entry = AuditEntry.objects.get(instance=instance(iid))
    assert (entry.action, entry.actor) == ("compensation_skip", "olivia")


def test_every_step_and_compensation_run_twice_has_no_double_effect(no_workers, client):
    """At-least-once: each activity body runs twice (the first worker dies after it)."""
    iid = client.start(
        "order_saga", {**ORDER, "fail": {"step": "confirm_order", "mode": "permanent"}}
    )
    inst = drive(iid, twice=True)

    assert inst.status == "failed"
    tasks = ActivityTask.objects.filter(instance=inst)
    assert sorted(t.name for t in tasks) == sorted([*STEPS, *UNDO.values()])
    assert {t.runs for t in tasks} == {2}
    rows = ServiceCall.objects.filter(reference="o-7")
    assert rows.count() == 7  # one row per call: no second reservation, capture, refund...
    assert {(r.operation, r.executions) for r in rows if r.applied_at} == {
        (op, 2) for step, (_, op) in EFFECT.items() if step != "confirm_order"
    }
    assert rows.get(operation="confirm").failures == 2
    assert [r.status for r in records(iid)] == ["compensated"] * 3
    assert_history_valid(iid, complete=True)


@pytest.mark.integration
def test_deciding_the_last_failed_compensation_clears_the_attention_flag(workers, client, operator):
    order = {
        **ORDER,
        "fail": {"step": "create_shipment", "mode": "permanent"},
        "fail_compensation": {"step": "release_inventory", "mode": "permanent"},
    }
    iid = client.start("order_saga", order)
    wait_for_attention(client, iid)
    release = next(r for r in records(iid) if r.activity == "release_inventory")

    client.skip_compensation(release.pk, by=operator, note="stock recounted by hand")
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "failed"
    assert [r.status for r in records(iid)] == ["skipped", "compensated"]
    assert (state.needs_attention, state.attention_reason) == (False, "")
