"""Monitor: ``deployment_monitor`` polls until a deployment is ready, then stops.

Input ``{"deployment_id": "web-42", "ready_after_checks": 3, "interval_seconds": 10,
"max_attempts": 30}`` (and optionally ``timeout_seconds``, default
``interval_seconds * max_attempts``). Between checks it sleeps on a durable timer, so
a restart loses nothing. It gives up after ``max_attempts`` checks or at the deadline.
Every ``CHECKS_PER_EXECUTION`` checks it continues as new, carrying the attempt count
and the deadline in its input, so its history stays small however long it runs.

On a schedule (docs/architecture.md, "Schedules"), e.g. a probe every five minutes that
never overlaps itself (a run still polling makes the next one skip)::

    durable schedule create web-probe --orchestrator deployment_monitor \\
        --cron "*/5 * * * *" --overlap skip --catchup none \\
        --input '{"deployment_id": "web", "ready_after_checks": 1, "interval_seconds": 10}'
"""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.engine import activity, orchestrator

from . import services
from .inputs import number, require_object, text

CHECKS_PER_EXECUTION = 5


@activity(name="check_deployment")
def check_deployment(ctx, request):
    """Ask the (fake) deployment system; it reports ready after N status checks."""
    deployment = request["deployment_id"]
    services.call(
        ctx,
        "deployments",
        "status",
        deployment,
        answer=lambda key: {"checked": True},
    )
    checks = services.count("deployments", "status", deployment)
    return {"ready": checks >= request["ready_after_checks"], "checks": checks}


@orchestrator(name="deployment_monitor")
def deployment_monitor(ctx, spec):
    spec = require_object(spec, "deployment_monitor")
    deployment = text(spec, "deployment_id")
    ready_after = number(spec, "ready_after_checks", default=3, minimum=0, whole=True)
    interval = number(spec, "interval_seconds", default=10, minimum=0.1)
    max_attempts = number(spec, "max_attempts", default=30, minimum=1, whole=True)
    timeout = number(spec, "timeout_seconds", default=interval * max_attempts, minimum=0.1)
    attempt = number(spec, "attempt", default=0, minimum=0, whole=True)
    if "deadline" in spec:
        deadline = datetime.fromisoformat(spec["deadline"])
    else:  # the first execution fixes the deadline; later ones carry it over
        deadline = ctx.current_utc_datetime + timedelta(seconds=timeout)

    for _ in range(CHECKS_PER_EXECUTION):
        attempt += 1
        check = yield ctx.call_activity(
            check_deployment, {"deployment_id": deployment, "ready_after_checks": ready_after}
        )
        status = {"deployment_id": deployment, "attempt": attempt, "max_attempts": max_attempts}
        if check["ready"]:
            ctx.set_custom_status({**status, "state": "ready"})
            return {"deployment_id": deployment, "ready": True, "attempts": attempt}
        gave_up = None
        if attempt >= max_attempts:
            gave_up = "max_attempts"
        elif ctx.current_utc_datetime >= deadline:
            gave_up = "deadline"
        if gave_up:
            ctx.set_custom_status({**status, "state": "gave_up", "reason": gave_up})
            return {
                "deployment_id": deployment,
                "ready": False,
                "attempts": attempt,
                "reason": gave_up,
            }
        next_check = min(ctx.current_utc_datetime + timedelta(seconds=interval), deadline)
        ctx.set_custom_status({**status, "state": "waiting", "next_check": next_check.isoformat()})
        yield ctx.create_timer(next_check)

    ctx.continue_as_new({**spec, "attempt": attempt, "deadline": deadline.isoformat()})
    return None
