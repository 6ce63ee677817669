"""Human interaction: ``expense_approval`` waits for a person, with a durable deadline.

Input ``{"amount": 120.5, "requester": "sam", "approver_group": "approvers",
"timeout_seconds": 86400, "escalation_group": "operators"}``. Members of
``approver_group`` decide in the UI or the API. Nobody deciding before the deadline
raises ``ApprovalTimeout``; the request then goes to ``escalation_group`` (when given)
with a fresh deadline. A decision that comes after its deadline is refused by the
client, and the workflow goes on as if it never came.
"""

from __future__ import annotations

from datetime import timedelta

from workflows.engine import ApprovalTimeout, activity, orchestrator

from . import services
from .inputs import number, require_object, text


@activity(name="pay_expense")
def pay_expense(ctx, payout):
    return services.call(
        ctx,
        "payments",
        "payout",
        payout["requester"],
        payout,
        answer=lambda key: {"payout_id": services.make_id("po", key)},
    )


@activity(name="notify_requester")
def notify_requester(ctx, message):
    return services.call(
        ctx,
        "mail",
        "send",
        message["to"],
        message,
        answer=lambda key: {"message_id": services.make_id("msg", key)},
    )


def _ask(ctx, group, details, seconds):
    """One approval round; returns the decision, or None when its deadline passed."""
    ctx.set_custom_status({"state": "awaiting_approval", "group": group})
    try:
        return (
            yield ctx.request_approval(
                "expense", assignees=group, details=details, timeout=timedelta(seconds=seconds)
            )
        )
    except ApprovalTimeout:
        return None


@orchestrator(name="expense_approval")
def expense_approval(ctx, claim):
    claim = require_object(claim, "expense_approval")
    amount = number(claim, "amount", minimum=0.01)
    requester = text(claim, "requester")
    group = text(claim, "approver_group", "approvers")
    seconds = number(claim, "timeout_seconds", default=86400, minimum=0.1)
    escalation = claim.get("escalation_group")
    if escalation is not None:
        escalation = text(claim, "escalation_group")
    details = {"amount": amount, "requester": requester, "purpose": claim.get("purpose", "")}

    decision = yield from _ask(ctx, group, details, seconds)
    if decision is None and escalation:
        details = {**details, "escalated_from": group}
        decision = yield from _ask(ctx, escalation, details, seconds)

    if decision is None:
        outcome = {"status": "expired", "amount": amount}
    elif decision["approved"]:
        payout = yield ctx.call_activity(pay_expense, {"requester": requester, "amount": amount})
        outcome = {"status": "approved", "amount": amount, "payout_id": payout["payout_id"]}
    else:
        outcome = {"status": "rejected", "amount": amount}
    if decision is not None:
        outcome.update(decided_by=decision["by"], comment=decision["comment"])
    ctx.set_custom_status({"state": outcome["status"]})
    yield ctx.call_activity(
        notify_requester, {"to": requester, "template": f"expense_{outcome['status']}", **outcome}
    )
    return outcome
