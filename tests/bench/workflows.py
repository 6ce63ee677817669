"""Trivial workflows for the benchmark: the engine's overhead is what is measured."""

from __future__ import annotations

from workflows.engine import activity, orchestrator


@activity(name="bench_noop")
def bench_noop(ctx, value):
    return value


@orchestrator(name="bench_chain")
def bench_chain(ctx, steps):
    value = 0
    for _ in range(steps):
        value = yield ctx.call_activity("bench_noop", value + 1)
    return value


@activity(name="bench_item")
def bench_item(ctx, i):
    """The result every fan-out of issue 17 returns: {"i": i, "ok": true, "pad": 32 bytes}."""
    return {"i": i, "ok": True, "pad": "x" * 32}


@orchestrator(name="bench_fan_out")
def bench_fan_out(ctx, width):
    results = yield ctx.task_all([ctx.call_activity("bench_item", i) for i in range(width)])
    return len(results)


@orchestrator(name="bench_child")
def bench_child(ctx, i):
    return (yield ctx.call_activity("bench_item", i))


@orchestrator(name="bench_children")
def bench_children(ctx, spec):
    """``count`` one-step children, at most ``parallel`` running at a time."""
    in_flight, done = [], 0
    for i in range(spec["count"]):
        if len(in_flight) >= spec["parallel"]:
            winner = yield ctx.task_any(in_flight)
            in_flight.remove(winner)
            done += 1
        in_flight.append(ctx.call_sub_orchestrator("bench_child", i))
    while in_flight:
        winner = yield ctx.task_any(in_flight)
        in_flight.remove(winner)
        done += 1
    return done


@orchestrator(name="bench_wait")
def bench_wait(ctx, _):
    data = yield ctx.wait_for_external_event("go")
    return data


@orchestrator(name="bench_bounded")
def bench_bounded(ctx, spec):
    results = yield from ctx.bounded_fan_out("bench_item", range(spec["count"]), spec["parallel"])
    return len(results)


@activity(name="bench_sleep")
def bench_sleep(ctx, seconds):
    import time

    time.sleep(seconds)
    return seconds


@orchestrator(name="bench_slow_chain")
def bench_slow_chain(ctx, spec):
    for _ in range(spec["steps"]):
        yield ctx.call_activity("bench_sleep", spec["sleep"])
    return spec["steps"]
