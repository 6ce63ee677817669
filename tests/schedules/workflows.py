"""Orchestrators the schedule tests start (no worker runs them unless a test asks)."""

from workflows.engine import orchestrator


@orchestrator(name="s_wait")
def s_wait(ctx, data):
    """Runs until it is sent "go" (so it is "still going" as long as a test wants)."""
    yield ctx.wait_for_external_event("go")
    return data


@orchestrator(name="s_quick")
def s_quick(ctx, data):
    return data
    yield  # a generator


@orchestrator(name="s_declared", schedule={"cron": "0 3 * * *", "timezone": "Europe/Berlin"})
def s_declared(ctx, data):
    return data
    yield
