"""Workflows of tests/versioning and tests/observability (imported by worker processes too).

``DEPLOYED`` simulates a deploy inside one test process: flipping a switch changes the
code of an orchestrator under the same name and version, as a new release would.
Tests flip it back (fixture ``deploy`` in tests/versioning/conftest.py).
"""

from __future__ import annotations

from datetime import timedelta

from workflows.engine import (
    ActivityFailed,
    NonRetryableError,
    Registry,
    RetryPolicy,
    activity,
    orchestrator,
)

# Which changes are "deployed" right now (see the module docstring).
DEPLOYED = {"receipt_patch": False, "reordered": False}


@activity(name="tv_step")
def tv_step(ctx, tag):
    return tag


@activity(name="tv_reserve")
def tv_reserve(ctx, order):
    return f"reserved {order}"


@activity(name="tv_charge")
def tv_charge(ctx, order):
    return f"charged {order}"


# -- two versions side by side ------------------------------------------------------------
@orchestrator(name="tv_order", version=1)
def tv_order_v1(ctx, order):
    reserved = yield ctx.call_activity("tv_reserve", order)
    decision = yield ctx.wait_for_external_event("go")
    return {"code": "v1", "version": ctx.version, "steps": [reserved], "decision": decision}


@orchestrator(name="tv_order", version=2)
def tv_order_v2(ctx, order):
    reserved = yield ctx.call_activity("tv_reserve", order)
    charged = yield ctx.call_activity("tv_charge", order)
    decision = yield ctx.wait_for_external_event("go")
    return {
        "code": "v2",
        "version": ctx.version,
        "steps": [reserved, charged],
        "decision": decision,
    }


@orchestrator(name="tv_loop", version=1)
def tv_loop_v1(ctx, generation):
    yield ctx.call_activity("tv_step", f"v1-{generation}")
    if generation < 3:
        ctx.continue_as_new(generation + 1)
        return None
    return {"code": "v1", "generation": generation}


@orchestrator(name="tv_loop", version=2)
def tv_loop_v2(ctx, generation):
    yield ctx.call_activity("tv_step", f"v2-{generation}")
    return {"code": "v2", "generation": generation}


# -- an incompatible change: the same name and version, steps reordered -------------------------
@orchestrator(name="tv_checkout")
def tv_checkout(ctx, order):
    if DEPLOYED["reordered"]:
        yield ctx.call_activity("tv_charge", order)
        yield ctx.call_activity("tv_reserve", order)
    else:
        yield ctx.call_activity("tv_reserve", order)
        yield ctx.call_activity("tv_charge", order)
    decision = yield ctx.wait_for_external_event("ship")
    return {"shipped": decision}


def tv_checkout_reordered(ctx, order):
    """What a careless release would deploy as tv_checkout v1: charge before reserve."""
    yield ctx.call_activity("tv_charge", order)
    yield ctx.call_activity("tv_reserve", order)
    decision = yield ctx.wait_for_external_event("ship")
    return {"shipped": decision}


def tv_checkout_new_output(ctx, order):
    """The same steps as tv_checkout, but a different result."""
    yield ctx.call_activity("tv_reserve", order)
    yield ctx.call_activity("tv_charge", order)
    decision = yield ctx.wait_for_external_event("ship")
    return {"shipped": decision, "note": "new field"}


def tv_checkout_patched(ctx, order):
    """The compatible way to add a step: guarded by is_patched."""
    yield ctx.call_activity("tv_reserve", order)
    if ctx.is_patched("check-fraud"):
        yield ctx.call_activity("tv_step", "fraud checked")
    yield ctx.call_activity("tv_charge", order)
    decision = yield ctx.wait_for_external_event("ship")
    return {"shipped": decision}


def registry_with(checkout_code, *, version: int = 1) -> Registry:
    """A fresh registry holding the activities and ``checkout_code`` as tv_checkout."""
    registry = Registry()
    for fn in (tv_step, tv_reserve, tv_charge):
        registry.add_activity(fn, fn.__durable_name__)
    registry.add_orchestrator(checkout_code, "tv_checkout", version)
    return registry


# -- is_patched end to end ----------------------------------------------------------------------
@orchestrator(name="tv_receipt")
def tv_receipt(ctx, order):
    """Before the patch: reserve, wait, charge. The patch adds a receipt after reserve."""
    first = yield ctx.call_activity("tv_step", f"reserve {order}")
    receipt = None
    if DEPLOYED["receipt_patch"] and ctx.is_patched("send-receipt"):
        receipt = yield ctx.call_activity("tv_step", f"receipt {order}")
    decision = yield ctx.wait_for_external_event("go")
    last = yield ctx.call_activity("tv_step", f"charge {order}")
    return [first, receipt, last, decision]


@orchestrator(name="tv_receipt_late")
def tv_receipt_late(ctx, order):
    """The patched code sits after the wait: an old instance reaches it live."""
    decision = yield ctx.wait_for_external_event("go")
    receipt = None
    if DEPLOYED["receipt_patch"] and ctx.is_patched("send-receipt"):
        receipt = yield ctx.call_activity("tv_step", f"receipt {order}")
    return [decision, receipt]


# -- observability ---------------------------------------------------------------------------
@orchestrator(name="tv_logged")
def tv_logged(ctx, steps):
    for i in range(steps):
        yield ctx.call_activity("tv_step", i)
        ctx.logger.info("tv_logged reached step %d", i + 1)
    return steps


@orchestrator(name="tv_wait")
def tv_wait(ctx, _):
    return (yield ctx.wait_for_external_event("go"))


@orchestrator(name="tv_approval")
def tv_approval(ctx, details):
    decision = yield ctx.request_approval("tv-expense", assignees="tv-approvers", details=details)
    return decision["approved"]


@activity(name="tv_fail")
def tv_fail(ctx, _):
    raise NonRetryableError("the charge was declined")


@activity(name="tv_undo_fails")
def tv_undo_fails(ctx, _):
    raise NonRetryableError("the reservation system is down")


@orchestrator(name="tv_saga")
def tv_saga(ctx, _):
    saga = ctx.saga()
    yield ctx.call_activity("tv_step", "reserve")
    saga.add("tv_undo_fails", "reserve", step="release")
    try:
        yield ctx.call_activity("tv_fail", None)
    except ActivityFailed:
        yield from saga.compensate()
        raise


@orchestrator(name="tv_fan_out")
def tv_fan_out(ctx, width):
    results = yield ctx.task_all([ctx.call_activity("tv_step", i) for i in range(width)])
    return sum(results)


@activity(name="tv_flaky")
def tv_flaky(ctx, fail_times):
    if ctx.attempt <= fail_times:
        raise RuntimeError(f"attempt {ctx.attempt} fails")
    return ctx.attempt


@orchestrator(name="tv_retry")
def tv_retry(ctx, fail_times):
    policy = RetryPolicy(max_attempts=5, first_retry=timedelta(milliseconds=50))
    return (yield ctx.call_activity("tv_flaky", fail_times, retry=policy))


@orchestrator(name="tv_boom")
def tv_boom(ctx, _):
    yield ctx.call_activity("tv_step", "before")
    raise ValueError("orchestrator code failed")


# -- payload limits ---------------------------------------------------------------------------
@activity(name="tv_blob")
def tv_blob(ctx, size):
    return "x" * size


@orchestrator(name="tv_big_result")
def tv_big_result(ctx, size):
    policy = RetryPolicy(max_attempts=3, first_retry=timedelta(milliseconds=50))
    try:
        blob = yield ctx.call_activity("tv_blob", size, retry=policy)
    except ActivityFailed as exc:
        return {"failed": str(exc), "attempts": exc.attempts}
    return {"length": len(blob)}


@orchestrator(name="tv_big_output")
def tv_big_output(ctx, size):
    yield ctx.call_activity("tv_step", "small")
    return "y" * size


# -- a release gone by ------------------------------------------------------------------------
def tv_retired_v1(ctx, _):
    """An orchestrator of an older release that this code no longer registers."""
    yield ctx.call_activity("tv_retired_step", None)
    return "old"


def tv_retired_step(ctx, _):
    return "old step"


def old_release() -> Registry:
    """The registry of that older release."""
    registry = Registry()
    registry.add_activity(tv_retired_step, "tv_retired_step")
    registry.add_orchestrator(tv_retired_v1, "tv_retired", 1)
    return registry
