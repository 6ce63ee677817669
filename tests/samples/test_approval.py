"""expense_approval: a person decides, with a durable deadline and escalation.

The runtime's refusals (non-members, late and repeated decisions) are in
tests/recovery/test_approvals.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.checks import wait_until
from workflows.models import ApprovalRequest

CLAIM = {
    "amount": 120.5,
    "requester": "sam",
    "approver_group": "approvers",
    "timeout_seconds": 3600,
    "escalation_group": "operators",
}


def pending(runner, iid):
    [request] = [a for a in runner.approvals(iid) if a["status"] == "pending"]
    return request


def test_approved_expense_is_paid(runner, ledger):
    iid = runner.start("expense_approval", CLAIM)
    runner.run_until_idle()
    request = pending(runner, iid)
    assert (request["assignees"], request["details"]["amount"]) == ("approvers", 120.5)
    assert runner.status(iid).custom_status == {"state": "awaiting_approval", "group": "approvers"}

    runner.decide(iid, request["task_id"], True, by="alice", comment="ok")
    runner.run_until_idle()

    out = runner.status(iid).output
    assert out["status"] == "approved" and out["payout_id"].startswith("po_")
    assert (out["decided_by"], out["comment"]) == ("alice", "ok")
    assert [(r.service, r.operation) for r in ledger.records()] == [
        ("payments", "payout"),
        ("mail", "send"),
    ]


def test_rejected_expense_is_not_paid(runner, ledger):
    iid = runner.start("expense_approval", CLAIM)
    runner.run_until_idle()
    runner.decide(iid, pending(runner, iid)["task_id"], False, by="alice", comment="no receipt")
    runner.run_until_idle()

    assert runner.status(iid).output["status"] == "rejected"
    assert [(r.service, r.operation) for r in ledger.records()] == [("mail", "send")]
    assert runner.activity_calls("notify_requester")[0]["template"] == "expense_rejected"


def test_nobody_deciding_escalates_to_the_second_group(runner):
    iid = runner.start("expense_approval", CLAIM)
    runner.run_until_idle()
    runner.advance(timedelta(seconds=3599))
    assert pending(runner, iid)["assignees"] == "approvers"  # not yet

    runner.advance(timedelta(seconds=2))
    first, second = runner.approvals(iid)
    assert first["status"] == "expired"
    assert second["status"] == "pending" and second["assignees"] == "operators"
    assert second["details"]["escalated_from"] == "approvers"
    assert runner.status(iid).custom_status["state"] == "awaiting_approval"

    runner.decide(iid, second["task_id"], True, by="olga")
    runner.run_until_idle()
    assert runner.status(iid).output["decided_by"] == "olga"


def test_nobody_deciding_at_all_ends_expired(runner, ledger):
    iid = runner.start("expense_approval", CLAIM)
    runner.run_until_idle(auto_advance=True)

    assert runner.status(iid).output == {"status": "expired", "amount": 120.5}
    assert [a["status"] for a in runner.approvals(iid)] == ["expired", "expired"]
    assert [(r.service, r.operation) for r in ledger.records()] == [("mail", "send")]


def test_without_an_escalation_group_the_first_deadline_ends_it(runner):
    claim = {k: v for k, v in CLAIM.items() if k != "escalation_group"}
    iid = runner.start("expense_approval", claim)
    runner.run_until_idle(auto_advance=True)

    assert runner.status(iid).output["status"] == "expired"
    assert len(runner.approvals(iid)) == 1


@pytest.mark.integration
def test_approved_end_to_end(workers, client, django_user_model):
    from django.contrib.auth.models import Group

    alice = django_user_model.objects.create_user("alice")
    alice.groups.add(Group.objects.create(name="approvers"))
    iid = client.start("expense_approval", CLAIM)
    request = wait_until(
        lambda: ApprovalRequest.objects.filter(instance__instance_id=iid).first(),
        what="the approval request",
    )
    assert request.assignees == "approvers" and request.status == "pending"
    assert list(client.approvals(user=alice, status="pending")) == [request]

    decision = client.decide(request.pk, alice, approve=True, comment="fine")
    state = client.wait_for_completion(iid, timeout=30)

    assert decision.first and decision.status == "approved"
    assert state.output["status"] == "approved" and state.output["decided_by"] == "alice"
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.comment) == ("approved", alice, "fine")
