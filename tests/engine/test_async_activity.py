"""``async def`` activities in the engine: detected, awaited, failures reported, and run by
the in-memory test runner like plain ones."""

from __future__ import annotations

import asyncio

from workflows.engine import ActivityContext, RetryPolicy
from workflows.engine.activity import is_async, run_activity, run_activity_async


def ctx_of(name: str, attempt: int = 1) -> ActivityContext:
    return ActivityContext("i-1", name, attempt, "i-1:1:1")


def test_async_activities_are_told_from_plain_ones(registry):
    @registry.activity(name="fetch")
    async def fetch(ctx, url):
        return url

    @registry.activity(name="add")
    def add(ctx, pair):
        return pair[0] + pair[1]

    assert is_async(registry, "fetch") and not is_async(registry, "add")
    assert not is_async(registry, "unknown")


def test_an_awaited_result_is_json_round_tripped(registry):
    @registry.activity(name="async_pair")
    async def pair(ctx, value):
        await asyncio.sleep(0)
        return (value, value)

    outcome = asyncio.run(run_activity_async(registry, ctx_of("async_pair"), 3))
    assert outcome.ok and outcome.result == [3, 3]


def test_an_exception_becomes_the_failure_of_the_attempt(registry):
    @registry.activity(name="broken")
    async def broken(ctx, value):
        await asyncio.sleep(0)
        raise ConnectionError("partner down")

    outcome = asyncio.run(run_activity_async(registry, ctx_of("broken"), None))
    assert not outcome.ok and outcome.failure.message == "partner down"
    # The plain entry point awaits it on a loop of its own (the in-memory runner).
    outcome = run_activity(registry, ctx_of("broken"), None)
    assert not outcome.ok and outcome.failure.type.endswith("ConnectionError")


def test_the_test_runner_runs_async_activities_with_retries(registry, make_runner):
    @registry.activity(name="async_flaky")
    async def flaky(ctx, value):
        await asyncio.sleep(0)
        if ctx.attempt < 3:
            raise ConnectionError(f"attempt {ctx.attempt}")
        return value * ctx.attempt

    @registry.orchestrator(name="calls_flaky")
    def calls_flaky(ctx, value):
        return (yield ctx.call_activity("async_flaky", value, retry=RetryPolicy(max_attempts=3)))

    runner = make_runner()
    iid = runner.start("calls_flaky", 5)
    runner.run_until_idle(auto_advance=True)
    status = runner.status(iid)
    assert status.status == "completed" and status.output == 15
