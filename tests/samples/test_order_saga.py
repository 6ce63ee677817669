"""order_saga on the in-memory runner, plus its happy path end to end.

The failure matrix against the runtime (every step, every compensation, operators)
is in tests/recovery/test_saga.py.
"""

from __future__ import annotations

import pytest

from tests.samples.support import calls
from tests.support.checks import assert_history_valid
from workflows.models import CompensationRecord
from workflows.samples.models import ServiceCall
from workflows.samples.order_saga import STEPS, UNDO

ORDER = {"order_id": "o-1", "items": [{"sku": "BOOK-1", "qty": 2}], "amount": 59.9}
DONE = [("inventory", "reserve"), ("payments", "capture"), ("shipping", "create")]
UNDONE = {
    "reserve_inventory": ("inventory", "release"),
    "capture_payment": ("payments", "refund"),
    "create_shipment": ("shipping", "cancel"),
}


def effects(ledger):
    return [(r.service, r.operation) for r in ledger.records() if r.applied_at]


def test_happy_path_confirms_the_order(runner, ledger):
    iid = runner.start("order_saga", ORDER)
    runner.run_until_idle()

    state = runner.status(iid)
    assert state.status == "completed", state.failure
    assert state.output["status"] == "confirmed"
    assert {"reservation_id", "payment_id", "shipment_id"} <= set(state.output)
    assert effects(ledger) == [*DONE, ("orders", "confirm")]
    assert [c["status"] for c in runner.compensations(iid)] == ["registered"] * 3
    assert state.custom_status == {"state": "completed", "order_id": "o-1"}


def test_a_transient_failure_is_retried_by_the_policy(runner, ledger):
    order = {**ORDER, "fail": {"step": "capture_payment", "mode": "transient", "times": 2}}
    iid = runner.start("order_saga", order)
    runner.run_until_idle(auto_advance=True)

    assert runner.status(iid).status == "completed"
    assert len(runner.activity_calls("capture_payment")) == 3
    [capture] = [r for r in ledger.records() if r.operation == "capture"]
    assert (capture.failures, capture.executions) == (2, 1)


@pytest.mark.parametrize("k", range(1, len(STEPS) + 1))
def test_permanent_failure_at_step_k_undoes_steps_before_it_in_reverse(runner, ledger, k):
    failing = STEPS[k - 1]
    iid = runner.start("order_saga", {**ORDER, "fail": {"step": failing, "mode": "permanent"}})
    runner.run_until_idle(auto_advance=True)

    state = runner.status(iid)
    assert state.status == "failed"
    assert state.failure.type == "workflows.samples.order_saga.OrderFailed"
    assert f"failed at {failing}" in state.failure.message
    assert len(runner.activity_calls(failing)) == 1  # permanent: no retry
    done = STEPS[: k - 1]
    expected_undo = [UNDONE[step] for step in reversed(done)]
    assert effects(ledger) == [*DONE[: k - 1], *expected_undo]
    assert [c["step"] for c in runner.compensations(iid)] == list(done)
    assert {c["status"] for c in runner.compensations(iid)} <= {"compensated"}
    assert state.custom_status["state"] == "compensated"


def test_an_undo_that_fails_for_good_waits_for_an_operator(runner, ledger):
    order = {
        **ORDER,
        "fail": {"step": "confirm_order", "mode": "permanent"},
        "fail_compensation": {"step": "refund_payment", "mode": "permanent"},
    }
    iid = runner.start("order_saga", order)
    runner.run_until_idle(auto_advance=True)

    assert runner.status(iid).status == "running"
    assert runner.status(iid).custom_status["state"] == "compensation_failed"
    records = {c["activity"]: c for c in runner.compensations(iid)}
    assert records["cancel_shipment"]["status"] == "compensated"
    assert records["refund_payment"]["status"] == "failed"
    assert records["release_inventory"]["status"] == "registered"  # waits behind it

    runner.resolve_compensation(iid, records["refund_payment"]["task_id"], "resolve", note="x")
    runner.run_until_idle(auto_advance=True)

    state = runner.status(iid)
    assert state.status == "failed"
    assert "refund_payment (resolved_manually)" in state.failure.message
    assert [c["status"] for c in runner.compensations(iid)] == [
        "compensated",
        "resolved_manually",
        "compensated",
    ]


def test_unknown_failure_step_is_refused_up_front(runner, ledger):
    iid = runner.start("order_saga", {**ORDER, "fail": {"step": "ship_it", "mode": "permanent"}})
    runner.run_until_idle()

    assert runner.status(iid).status == "failed"
    assert "fail.step must be one of" in runner.status(iid).failure.message
    assert ledger.records() == []


@pytest.mark.integration
def test_happy_path_end_to_end(workers, client):
    iid = client.start("order_saga", ORDER, business_key="o-1")
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "completed", state.failure
    assert calls("o-1") == [*DONE, ("orders", "confirm")]
    records = CompensationRecord.objects.filter(instance__instance_id=iid).order_by("order")
    assert [(r.activity, r.status) for r in records] == [
        (UNDO[step], "registered") for step in STEPS[:3]
    ]
    assert_history_valid(iid)


@pytest.mark.integration
def test_transient_failure_is_retried_end_to_end(workers, client):
    order = {**ORDER, "fail": {"step": "create_shipment", "mode": "transient", "times": 2}}
    iid = client.start("order_saga", order)
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "completed", state.failure
    shipment = ServiceCall.objects.get(service="shipping", operation="create")
    assert (shipment.failures, shipment.executions) == (2, 1)
    assert_history_valid(iid)
