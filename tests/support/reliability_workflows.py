"""Orchestrators and activities of the reliability tests: heartbeats, timeouts and
cancellation (tests/runtime/test_heartbeats.py, test_timeouts.py, test_cancellation.py).

Worker processes import this module too: start them with
``worker_process_factory(DURABLE_WORKFLOW_MODULES=MODULES)``. Activities that must wait
for the test across processes poll for a file the test creates (``release``), and report
what they learned in another (``marker``).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from tests.support.markers import write_whole
from workflows.engine import (
    ActivityCancelled,
    ActivityTimedOut,
    RetryPolicy,
    activity,
    orchestrator,
)

MODULES = "tests.support.workflows,tests.support.reliability_workflows"


class Crash(BaseException):  # noqa: N818 - it stands for the process dying, not an error
    """Stands for the worker process dying mid-activity: no outcome, no flush, the lease
    stays until it lapses. Not an Exception, so nothing records it as a failure."""


class Flaky(ConnectionError):
    pass


@activity(name="r_rows")
def r_rows(ctx, job):
    """Work through ``job["rows"]`` rows, a heartbeat {"done": n} after each; resume from
    the last heartbeat. ``crash_at``: the first run dies at that row; ``fail_at``: the
    first attempt fails (transiently) at that row; ``pad``: details that many bytes larger."""
    start = (ctx.last_heartbeat or {}).get("done", 0)
    pad = {"pad": "x" * job["pad"]} if job.get("pad") else {}
    for row in range(start, job["rows"]):
        if row == job.get("crash_at") and ctx.last_heartbeat is None:
            raise Crash(f"worker died at row {row}")
        if row == job.get("fail_at") and ctx.attempt == 1:
            raise Flaky(f"connection lost at row {row}")
        ctx.heartbeat({"done": row + 1, **pad})
    return {"resumed_from": start, "attempt": ctx.attempt}


@orchestrator(name="r_import")
def r_import(ctx, job):
    policy = RetryPolicy(max_attempts=3, first_retry=timedelta(milliseconds=100))
    return (yield ctx.call_activity("r_rows", job, retry=policy))


@activity(name="r_quick")
def r_quick(ctx, value):
    return value


@activity(name="r_guarded_default", start_to_close=60, heartbeat_timeout=timedelta(seconds=10))
def r_guarded_default(ctx, value):
    return value


def _wait_for(path: str | None, max_seconds: float) -> bool:
    """Poll for ``path`` (never heartbeating): True once it exists."""
    deadline = time.monotonic() + max_seconds
    while path and time.monotonic() < deadline:
        if Path(path).exists():
            return True
        time.sleep(0.05)
    return False


def _mark(path: str | None, **facts) -> None:
    if path:
        write_whole(path, json.dumps(facts))


@activity(name="r_hang")
def r_hang(ctx, spec):
    """Hung: no heartbeat until the test creates ``spec["release"]`` (at most
    ``max_seconds``); then one heartbeat tells it whether it is still wanted."""
    released = _wait_for(spec.get("release"), spec.get("max_seconds", 30))
    try:
        ctx.heartbeat({"released": released})
    except ActivityCancelled:
        _mark(spec.get("marker"), cancelled=True, is_cancelled=ctx.is_cancelled)
        raise
    _mark(spec.get("marker"), cancelled=False)
    return "released"


@activity(name="r_until_cancelled")
def r_until_cancelled(ctx, spec):
    """Heartbeats {"beats": n} every 50 ms until cancelled (at most ``max_seconds``)."""
    beats = 0
    deadline = time.monotonic() + spec.get("max_seconds", 30)
    try:
        while time.monotonic() < deadline:
            beats += 1
            ctx.heartbeat({"beats": beats})
            time.sleep(0.05)
    except ActivityCancelled:
        _mark(spec.get("marker"), cancelled=True, beats=beats, is_cancelled=ctx.is_cancelled)
        raise
    _mark(spec.get("marker"), cancelled=False, beats=beats)
    return {"beats": beats}


@orchestrator(name="r_guarded")
def r_guarded(ctx, spec):
    """Call ``spec["activity"]`` with the spec's timeouts and retry; report a timeout."""
    retry = None
    if spec.get("max_attempts"):
        retry = RetryPolicy(
            max_attempts=spec["max_attempts"],
            first_retry=timedelta(milliseconds=100),
            non_retryable=(ActivityTimedOut,) if spec.get("timeouts_final") else (),
        )
    try:
        result = yield ctx.call_activity(
            spec["activity"],
            spec.get("input"),
            retry=retry,
            start_to_close=spec.get("start_to_close"),
            heartbeat_timeout=spec.get("heartbeat_timeout"),
        )
    except ActivityTimedOut as exc:
        return {"timed_out": str(exc), "attempts": exc.attempts}
    return {"result": result}


@orchestrator(name="r_restarts")
def r_restarts(ctx, spec):
    """Runs a long activity; the event "restart" continues as new while it runs."""
    if spec.get("generation", 1) > 1:
        return {"generation": spec["generation"]}
    work = ctx.call_activity("r_until_cancelled", spec)
    restart = ctx.wait_for_external_event("restart")
    winner = yield ctx.task_any([work, restart])
    if winner is restart:
        ctx.continue_as_new({**spec, "generation": 2})
        return None
    return winner.result


@orchestrator(name="r_race")
def r_race(ctx, spec):
    """task_any of an activity and a timer; then waits for the event "finish"."""
    work = ctx.call_activity("r_hang", spec)
    timer = ctx.create_timer(timedelta(seconds=spec.get("timer_seconds", 1)))
    winner = yield ctx.task_any([work, timer])
    yield ctx.wait_for_external_event("finish")
    return "activity" if winner is work else "timer"
