"""The workloads of `make bench-compare`, durableapp side (tests/bench/compare_dbos.py has
the same on DBOS): every step returns the same small payload on both systems."""

from __future__ import annotations

from workflows.engine import activity, orchestrator

PAD = "x" * 32  # 32 bytes of padding in every step's result, as on the DBOS side


@activity(name="cmp_step")
def cmp_step(ctx, i):
    return {"i": i, "ok": True, "pad": PAD}


@orchestrator(name="cmp_chain")
def cmp_chain(ctx, steps):
    result = None
    for i in range(steps):
        result = yield ctx.call_activity("cmp_step", i)
    return result


@orchestrator(name="cmp_bounded_activities")
def cmp_bounded_activities(ctx, spec):
    results = yield from ctx.bounded_fan_out("cmp_step", range(spec["count"]), spec["parallel"])
    return len(results)


@orchestrator(name="cmp_bounded_children")
def cmp_bounded_children(ctx, spec):
    """``count`` one-step child orchestrations, at most ``parallel`` running at once."""
    in_flight = []
    done = 0
    for _ in range(spec["count"]):
        if len(in_flight) >= spec["parallel"]:
            winner = yield ctx.task_any(in_flight)
            in_flight.remove(winner)
            done += 1
        in_flight.append(ctx.call_sub_orchestrator("cmp_chain", 1))
    while in_flight:
        winner = yield ctx.task_any(in_flight)
        in_flight.remove(winner)
        done += 1
    return done


@orchestrator(name="cmp_fan_out")
def cmp_fan_out(ctx, width):
    results = yield ctx.task_all([ctx.call_activity("cmp_step", i) for i in range(width)])
    return len(results)
