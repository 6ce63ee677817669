"""Test orchestrators of tests/recovery (also imported by worker processes)."""

from __future__ import annotations

from tests.support import workflows as _support  # noqa: F401 - registers t_add
from workflows.engine import activity, orchestrator
from workflows.samples import services


@activity(name="r_service_step")
def r_service_step(ctx, request):
    """One call to a fake service; ``fail`` is a failure switch (see samples.services)."""
    return services.call(
        ctx,
        "ledger",
        request["step"],
        request["ref"],
        answer=lambda key: {"step": request["step"], "id": services.make_id("st", key)},
        fail=request.get("fail"),
    )


@orchestrator(name="r_rewindable")
def r_rewindable(ctx, ref):
    """Fails at its second step once (a permanent error until someone fixes it)."""
    first = yield ctx.call_activity(r_service_step, {"ref": ref, "step": "prepare"})
    broken = {"mode": "permanent", "times": 1}
    second = yield ctx.call_activity(r_service_step, {"ref": ref, "step": "commit", "fail": broken})
    return {"first": first["id"], "second": second["id"]}


# Flipped by tests to stand for a deploy that changed (then fixed) the code below.
CODE = {"changed": False}


@orchestrator(name="r_code_change")
def r_code_change(ctx, ref):
    first = yield ctx.call_activity(r_service_step, {"ref": ref, "step": "one"})
    if CODE["changed"]:  # the bad deploy: a different second step
        second = yield ctx.call_activity("t_add", {"a": 1, "b": 2})
    else:
        second = (yield ctx.call_activity(r_service_step, {"ref": ref, "step": "two"}))["id"]
    go = yield ctx.wait_for_external_event("go")
    return {"first": first["id"], "second": second, "go": go}
