"""Async HTTP API: ``long_job`` runs for a while and reports progress while it does.

Start it with ``POST /api/v1/instances/ {"name": "long_job", "input": {"seconds": 30}}``:
the answer is ``202 Accepted`` with a ``Location`` to poll; that status URL answers
``202`` + ``Retry-After`` (custom status ``{"progress": 40, ...}``) while the job runs
and ``200`` with the output once it is done.
"""

from __future__ import annotations

import time

from workflows.engine import activity, orchestrator

from . import services
from .inputs import number, require_object

STEPS = 5


@activity(name="run_job_step")
def run_job_step(ctx, step):
    time.sleep(step["seconds"])  # stands in for real work: an export, a report, a model run
    return {"step": step["step"], "rows": 1000 * step["step"]}


@activity(name="publish_report")
def publish_report(ctx, report):
    return services.call(
        ctx,
        "reports",
        "publish",
        report["job"],
        report,
        answer=lambda key: {"url": f"/reports/{services.make_id('rep', key)}.csv"},
    )


@orchestrator(name="long_job")
def long_job(ctx, spec):
    spec = require_object(spec, "long_job")
    seconds = number(spec, "seconds", default=10, minimum=0, maximum=3600)
    rows = 0
    for step in range(1, STEPS + 1):
        ctx.set_custom_status({"progress": 100 * (step - 1) // STEPS, "step": step, "of": STEPS})
        done = yield ctx.call_activity(run_job_step, {"step": step, "seconds": seconds / STEPS})
        rows += done["rows"]
    ctx.set_custom_status({"progress": 100, "step": STEPS, "of": STEPS})
    report = yield ctx.call_activity(publish_report, {"job": ctx.instance_id, "rows": rows})
    return {"seconds": seconds, "steps": STEPS, "rows": rows, "report_url": report["url"]}
