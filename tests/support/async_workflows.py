"""``async def`` activities and their orchestrators (tests/runtime/test_async_activities.py).

Worker processes import this module too: ``ASYNC_MODULES`` is their
DURABLE_WORKFLOW_MODULES.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from tests.support import workflows  # noqa: F401 - the worker needs both sets
from tests.support.markers import write_whole
from workflows.engine import (
    ActivityCancelled,
    ActivityTimedOut,
    RetryPolicy,
    activity,
    orchestrator,
)
from workflows.samples.models import ServiceCall

ASYNC_MODULES = "tests.support.workflows,tests.support.async_workflows"


@activity(name="t_async_nap")
async def t_async_nap(ctx, spec):
    await asyncio.sleep(spec["sleep"])
    return spec["i"]


@activity(name="t_sync_nap")
def t_sync_nap(ctx, spec):
    time.sleep(spec["sleep"])
    return spec["i"]


@orchestrator(name="t_async_fan_out")
def t_async_fan_out(ctx, spec):
    """``spec["activity"]`` (t_async_nap or t_sync_nap) ``count`` times at once."""
    results = yield ctx.task_all(
        [
            ctx.call_activity(spec["activity"], {"i": i, "sleep": spec["sleep"]})
            for i in range(spec["count"])
        ]
    )
    return sum(results)


@activity(name="t_async_add")
async def t_async_add(ctx, spec):
    await asyncio.sleep(0)
    return spec["total"] + spec["i"]


@orchestrator(name="t_async_chain")
def t_async_chain(ctx, steps):
    """Async and plain steps taking turns: each result feeds the next step."""
    total = 0
    for i in range(steps):
        if i % 3 == 2:
            total = yield ctx.call_activity("t_add", {"a": total, "b": i})
        else:
            total = yield ctx.call_activity("t_async_add", {"total": total, "i": i})
    return total


@activity(name="t_async_flaky")
async def t_async_flaky(ctx, spec):
    await asyncio.sleep(0.01)
    if ctx.attempt < spec["succeed_on"]:
        raise ConnectionError(f"attempt {ctx.attempt} failed")
    return ctx.attempt


@orchestrator(name="t_async_retry")
def t_async_retry(ctx, spec):
    policy = RetryPolicy(max_attempts=spec["max_attempts"], first_retry=timedelta(milliseconds=50))
    return (yield ctx.call_activity("t_async_flaky", spec, retry=policy))


@activity(name="t_async_hang", start_to_close=0.5)
async def t_async_hang(ctx, seconds):
    await asyncio.sleep(seconds)
    return "finished"


@orchestrator(name="t_async_timeout")
def t_async_timeout(ctx, seconds):
    try:
        return (yield ctx.call_activity("t_async_hang", seconds))
    except ActivityTimedOut as exc:
        return f"timed out: {exc}"


@activity(name="t_async_orm")
async def t_async_orm(ctx, reference):
    """Django's async ORM inside an async activity: a row keyed by the idempotency key."""
    call, _created = await ServiceCall.objects.aget_or_create(
        idempotency_key=ctx.idempotency_key,
        defaults={"service": "test", "operation": "async", "reference": reference},
    )
    call.executions += 1
    await call.asave(update_fields=["executions"])
    return await ServiceCall.objects.filter(reference=reference).acount()


@orchestrator(name="t_async_orm_twice")
def t_async_orm_twice(ctx, reference):
    first = yield ctx.call_activity("t_async_orm", reference)
    second = yield ctx.call_activity("t_async_orm", reference)
    return [first, second]


@activity(name="t_async_beating")
async def t_async_beating(ctx, spec):
    """Beats every 50 ms, resuming from the last beat, until done or cancelled; a
    cancellation (at an ``await`` or a beat) is written to ``spec["marker"]``."""
    done = (ctx.last_heartbeat or {}).get("done", 0)
    try:
        while done < spec["steps"]:
            await asyncio.sleep(0.05)
            done += 1
            ctx.heartbeat({"done": done})
    except (asyncio.CancelledError, ActivityCancelled) as exc:
        write_whole(spec["marker"], type(exc).__name__)
        raise
    return done


@orchestrator(name="t_async_beats")
def t_async_beats(ctx, spec):
    return (yield ctx.call_activity("t_async_beating", spec))


@activity(name="t_async_together")
async def t_async_together(ctx, spec):
    """Leaves a file in ``spec["dir"]``, then waits (up to a minute) until ``together`` are
    there: returns how many it saw, which reaches ``together`` only for attempts that ran
    at once with enough others (run one after another, the first would see only itself).
    """
    folder = Path(spec["dir"])
    (folder / str(spec["i"])).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < spec["together"] and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return len(list(folder.iterdir()))


@orchestrator(name="t_async_all_together")
def t_async_all_together(ctx, spec):
    """``count`` t_async_together at once; their counts, in order."""
    return (
        yield ctx.task_all(
            [ctx.call_activity("t_async_together", {**spec, "i": i}) for i in range(spec["count"])]
        )
    )


@activity(name="t_async_two_at_once", max_concurrency=2)
async def t_async_two_at_once(ctx, spec):
    """Runs with a file of its own in ``spec["dir"]`` and returns how many such files it
    saw at once (the activity limit allows 2 across all workers)."""
    folder = Path(spec["dir"])
    mine = folder / str(spec["i"])
    mine.touch()
    seen = 0
    for _ in range(5):
        seen = max(seen, len(list(folder.iterdir())))
        await asyncio.sleep(0.02)
    mine.unlink()
    return seen


@orchestrator(name="t_async_limited")
def t_async_limited(ctx, spec):
    """``count`` t_async_two_at_once at once; the most each saw running."""
    return (
        yield ctx.task_all(
            [
                ctx.call_activity("t_async_two_at_once", {**spec, "i": i})
                for i in range(spec["count"])
            ]
        )
    )
