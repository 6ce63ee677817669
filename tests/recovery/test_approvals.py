"""Deciding approval requests of expense_approval: who may, when, and how often."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group

from tests.support.checks import wait_until
from workflows.engine.errors import InvalidState, NotAllowed
from workflows.models import ApprovalRequest, AuditEntry

pytestmark = pytest.mark.integration

CLAIM = {"amount": 80.0, "requester": "sam", "approver_group": "approvers"}


@pytest.fixture
def people(django_user_model):
    approvers = Group.objects.create(name="approvers")
    alice = django_user_model.objects.create_user("alice")
    bob = django_user_model.objects.create_user("bob")
    mallory = django_user_model.objects.create_user("mallory")  # in no group
    alice.groups.add(approvers)
    bob.groups.add(approvers)
    return alice, bob, mallory


def requested(iid, count=1):
    def check():
        rows = list(ApprovalRequest.objects.filter(instance__instance_id=iid).order_by("pk"))
        return rows if len(rows) >= count else None

    return wait_until(check, what=f"{count} approval request(s) of {iid}")[-1]


def decisions(iid):
    return list(
        AuditEntry.objects.filter(instance__instance_id=iid, action="decide").values_list(
            "actor", "detail__decision"
        )
    )


def test_approved(workers, client, people):
    alice, _, _ = people
    iid = client.start("expense_approval", {**CLAIM, "timeout_seconds": 60})
    request = requested(iid)

    decision = client.decide(request.pk, alice, approve=True, comment="within budget")

    assert (decision.status, decision.decided_by, decision.first) == ("approved", "alice", True)
    state = client.wait_for_completion(iid, timeout=30)
    assert state.output["status"] == "approved"
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.comment) == (
        "approved",
        alice,
        "within budget",
    )
    assert request.decided_at is not None and request.decided_at <= request.deadline
    assert decisions(iid) == [("alice", "approved")]


def test_rejected(workers, client, people):
    _, bob, _ = people
    iid = client.start("expense_approval", {**CLAIM, "timeout_seconds": 60})
    request = requested(iid)

    client.decide(request.pk, bob, approve=False, comment="no receipt")

    state = client.wait_for_completion(iid, timeout=30)
    assert state.output == {
        "status": "rejected",
        "amount": 80.0,
        "decided_by": "bob",
        "comment": "no receipt",
    }
    assert decisions(iid) == [("bob", "rejected")]


def test_timed_out_then_escalated_then_timed_out_again(workers, client, people):
    iid = client.start(
        "expense_approval", {**CLAIM, "timeout_seconds": 1, "escalation_group": "operators"}
    )
    state = client.wait_for_completion(iid, timeout=30)

    assert state.output == {"status": "expired", "amount": 80.0}
    rows = ApprovalRequest.objects.filter(instance__instance_id=iid).order_by("pk")
    assert [(r.assignees, r.status) for r in rows] == [
        ("approvers", "expired"),
        ("operators", "expired"),
    ]
    assert rows[1].details["escalated_from"] == "approvers"
    assert decisions(iid) == []


def test_a_non_member_may_not_decide(workers, client, people):
    _, _, mallory = people
    iid = client.start("expense_approval", {**CLAIM, "timeout_seconds": 60})
    request = requested(iid)

    with pytest.raises(NotAllowed, match="mallory is not in group 'approvers'"):
        client.decide(request.pk, mallory, approve=True)

    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("pending", None)
    assert client.get_status(iid).status == "running"
    assert decisions(iid) == []
    assert list(client.approvals(user=mallory)) == []


def test_a_second_decision_answers_with_the_first(workers, client, people):
    alice, bob, _ = people
    iid = client.start("expense_approval", {**CLAIM, "timeout_seconds": 60})
    request = requested(iid)
    client.decide(request.pk, alice, approve=True, comment="ok")

    again = client.decide(request.pk, bob, approve=False, comment="too late, bob")

    assert (again.status, again.decided_by, again.comment, again.first) == (
        "approved",
        "alice",
        "ok",
        False,
    )
    assert client.wait_for_completion(iid, timeout=30).output["status"] == "approved"
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.comment) == ("approved", alice, "ok")
    assert decisions(iid) == [("alice", "approved")]


def test_a_decision_after_the_deadline_is_refused_naming_it(workers, client, people):
    alice, _, _ = people
    claim = {**CLAIM, "timeout_seconds": 1, "escalation_group": "operators"}
    iid = client.start("expense_approval", claim)
    request = requested(iid)
    wait_until(lambda: time.time() > request.deadline.timestamp(), what="the deadline")

    with pytest.raises(InvalidState) as refused:
        client.decide(request.pk, alice, approve=True)

    expected = f"expired at {request.deadline:%Y-%m-%d %H:%M:%S} UTC"
    assert expected in str(refused.value) and "not recorded" in str(refused.value)
    escalated = requested(iid, count=2)  # the workflow went on as if nobody had decided
    assert escalated.assignees == "operators"
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("expired", None)
    assert decisions(iid) == []


def test_a_decision_after_the_workflow_finished_is_refused(workers, client, people):
    alice, _, _ = people
    iid = client.start("expense_approval", {**CLAIM, "timeout_seconds": 60})
    request = requested(iid)
    client.terminate(iid, reason="claim withdrawn")

    with pytest.raises(InvalidState, match="already finished"):
        client.decide(request.pk, alice, approve=True)

    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("cancelled", None)
    assert client.get_status(iid).status == "terminated"
    assert decisions(iid) == []


def test_one_approver_claims_a_request_and_the_other_sees_who(workers, client, people):
    alice, bob, mallory = people
    iid = client.start("expense_approval", {**CLAIM, "timeout_seconds": 60})
    request = requested(iid)

    client.claim_approval(request.pk, alice)
    client.claim_approval(request.pk, alice)  # a second click changes nothing
    with pytest.raises(InvalidState, match="alice is already on"):
        client.claim_approval(request.pk, bob)
    with pytest.raises(NotAllowed):
        client.claim_approval(request.pk, mallory)
    client.claim_approval(request.pk, bob, release=True)  # not his: nothing happens
    assert ApprovalRequest.objects.get(pk=request.pk).claimed_by == alice
    client.claim_approval(request.pk, alice, release=True)
    client.claim_approval(request.pk, bob)

    assert ApprovalRequest.objects.get(pk=request.pk).claimed_by == bob
    actions = AuditEntry.objects.filter(instance__instance_id=iid).exclude(action="start")
    assert list(actions.order_by("pk").values_list("actor", "action")) == [
        ("alice", "claim"),
        ("alice", "release"),
        ("bob", "claim"),
    ]


def test_a_rejection_needs_a_reason_when_the_workflow_asks(db, client, people):
    from workflows.engine.errors import InvalidInput
    from workflows.models import Instance

    alice, _, _ = people
    iid = client.start("expense_approval", {**CLAIM, "timeout_seconds": 60})
    instance = Instance.objects.get(instance_id=iid)
    request = ApprovalRequest.objects.create(
        instance=instance,
        execution_id=instance.execution_id,
        task_id=9,
        request_id=f"{iid}:x:9",
        name="expense",
        assignees="approvers",
        reason_required=True,
    )

    with pytest.raises(InvalidInput, match="asks for a reason to reject"):
        client.decide(request.pk, alice, approve=False, comment="  ")
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"
    assert client.decide(request.pk, alice, approve=False, comment="over budget").first
