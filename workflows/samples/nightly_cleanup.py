"""Scheduled retention: ``nightly_cleanup`` purges instances finished more than
``keep_days`` before its scheduled time (docs/architecture.md, "Schedules").

It is meant to run on a schedule, with the scheduled time passed in, so a late or
caught-up run purges exactly what the run of that night would have::

    durable schedule create nightly-cleanup --orchestrator nightly_cleanup \\
        --cron "30 2 * * *" --timezone Europe/Berlin --overlap skip --catchup latest \\
        --input '{"keep_days": 30}' --pass-scheduled-time

Input ``{"keep_days": 30, "scheduled_at": "2026-03-29T00:30:00Z"}`` (``scheduled_at``
added by the schedule; without it, the episode's time). No schedule is declared in code
here: purging is the operator's decision, so a deployment of the samples deletes nothing
until someone creates the schedule. The purge is the client's (one audit entry per run,
actor ``schedule:nightly_cleanup``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.engine import activity, orchestrator

from .inputs import SampleInputError, number, require_object


@activity(name="purge_finished_before")
def purge_finished_before(ctx, request):
    """Delete instances finished before ``request["before"]``; how many went."""
    from workflows.client import DurableClient  # the samples import no models at import

    before = datetime.fromisoformat(request["before"].replace("Z", "+00:00"))
    return DurableClient().purge(finished_before=before, by="schedule:nightly_cleanup")


@orchestrator(name="nightly_cleanup")
def nightly_cleanup(ctx, data):
    """Purge what the retention period leaves behind, as of the scheduled time."""
    data = require_object(data or {"keep_days": 30}, "nightly_cleanup")
    keep_days = number(data, "keep_days", default=30, minimum=1, maximum=3650, whole=True)
    at = data.get("scheduled_at")
    if at is not None and not isinstance(at, str):
        raise SampleInputError("scheduled_at must be an ISO 8601 time.")
    now = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else ctx.current_utc_datetime
    before = (now - timedelta(days=keep_days)).isoformat()
    purged = yield ctx.call_activity(purge_finished_before, {"before": before})
    return {"purged": purged, "finished_before": before}
