"""Workflows used by the UI tests: an approval, a saga whose undo fails, progress.

Imported by the in-process worker through the tests, and by `durable serve` processes
through DURABLE_WORKFLOW_MODULES.
"""

from __future__ import annotations

from datetime import timedelta

from tests.support import workflows  # noqa: F401 - the UI tests also use those
from workflows.engine import (
    ActivityFailed,
    ApprovalTimeout,
    NonRetryableError,
    activity,
    orchestrator,
)


@activity(name="ui_record")
def ui_record(ctx, value):
    return value


@activity(name="ui_fail")
def ui_fail(ctx, what):
    raise NonRetryableError(f"{what} is down")


@orchestrator(name="ui_expense")
def ui_expense(ctx, claim):
    """An expense claim that a manager approves or rejects within an hour."""
    ctx.set_custom_status({"completed": 1, "total": 3, "step": "waiting for a manager"})
    try:
        decision = yield ctx.request_approval(
            "expense", assignees="managers", details=claim, timeout=timedelta(hours=1)
        )
    except ApprovalTimeout:
        return {"outcome": "expired"}
    ctx.set_custom_status({"completed": 2, "total": 3, "step": "booking"})
    yield ctx.call_activity("ui_record", claim)
    ctx.set_custom_status({"completed": 3, "total": 3, "step": "done"})
    return {"outcome": decision["decision"], "by": decision["by"]}


@orchestrator(name="ui_order")
def ui_order(ctx, order):
    """Reserve, then charge fails; the undo of the reservation fails too (a person decides)."""
    saga = ctx.saga()
    yield ctx.call_activity("ui_record", {"reserved": order})
    saga.add("ui_fail", "the warehouse", step="release reservation")
    try:
        yield ctx.call_activity("ui_fail", "the payment service")
    except ActivityFailed:
        outcomes = yield from saga.compensate()
        return {"charged": False, "compensations": [o.status for o in outcomes]}
    return {"charged": True}


@orchestrator(name="ui_saga")
def ui_saga(ctx, order):
    """Reserve, then charge fails; the reservation is released and the order fails: a saga
    that failed as planned ("failed — compensated"), not a crash."""
    saga = ctx.saga()
    yield ctx.call_activity("ui_record", {"reserved": order})
    saga.add("ui_record", {"released": order}, step="release reservation")
    try:
        yield ctx.call_activity("ui_fail", "the payment service")
    except ActivityFailed:
        yield from saga.compensate()
        raise


@orchestrator(
    name="ui_purchase",
    example={"item": "laptops", "team": "support", "amount": 12400.5, "needed_by": "2030-01-02"},
)
def ui_purchase(ctx, order):
    """A purchase whose approval card has a title and a summary; rejecting needs a reason."""
    decision = yield ctx.request_approval(
        "purchase",
        assignees="managers",
        details=order,
        timeout=timedelta(hours=4),
        title=f"Purchase of {order['item']} for {order['team']}",
        summary={
            "Amount (EUR)": order["amount"],
            "Needed by": order.get("needed_by"),
            "Supplier": order.get("supplier", ""),  # empty: not shown
        },
        reason_required=True,
    )
    return {"outcome": decision["decision"], "comment": decision["comment"]}


@orchestrator(name="ui_greet", description="Says hello (the old way).")
def ui_greet_v1(ctx, who):
    yield ctx.call_activity("ui_record", f"hello {who}")


@orchestrator(name="ui_greet", version=2, example={"who": "Ada"})
def ui_greet_v2(ctx, person):
    """Says hello to a person, by name."""
    yield ctx.call_activity("ui_record", f"hello {person['who']}")


@orchestrator(name="ui_copy")
def ui_copy(ctx, files):
    """Copies files, saying how far it got (the progress convention), then waits."""
    ctx.set_progress(40, message=f"copying {files} files")
    yield ctx.wait_for_external_event("go")
