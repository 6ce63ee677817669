"""Orchestrators and activities used by runtime tests (imported by worker processes too)."""

from __future__ import annotations

from datetime import timedelta

from workflows.engine import NonRetryableError, RetryPolicy, activity, orchestrator


@activity(name="t_add")
def t_add(ctx, value):
    return value["a"] + value["b"]


@orchestrator(name="t_chain")
def t_chain(ctx, steps):
    total = 0
    for i in range(steps):
        total = yield ctx.call_activity("t_add", {"a": total, "b": i})
    return total


@orchestrator(name="t_fan_out")
def t_fan_out(ctx, count):
    results = yield ctx.task_all(
        [ctx.call_activity("t_add", {"a": i, "b": 1}) for i in range(count)]
    )
    return sum(results)


@orchestrator(name="t_timer")
def t_timer(ctx, seconds):
    fired = yield ctx.create_timer(timedelta(seconds=seconds))
    return fired.isoformat() if hasattr(fired, "isoformat") else fired


@orchestrator(name="t_wait_event")
def t_wait_event(ctx, timeout_seconds):
    timeout = timedelta(seconds=timeout_seconds) if timeout_seconds else None
    data = yield ctx.wait_for_external_event("approve", timeout=timeout)
    return {"got": data}


class _Transient(Exception):
    pass


@activity(name="t_flaky")
def t_flaky(ctx, fail_times):
    if ctx.attempt <= fail_times:
        raise _Transient(f"attempt {ctx.attempt} fails")
    return {"attempt": ctx.attempt, "key": ctx.idempotency_key}


@activity(name="t_broken")
def t_broken(ctx, _):
    raise NonRetryableError("this never works")


@orchestrator(name="t_retry")
def t_retry(ctx, fail_times):
    policy = RetryPolicy(max_attempts=5, first_retry=timedelta(milliseconds=100))
    return (yield ctx.call_activity("t_flaky", fail_times, retry=policy))


@orchestrator(name="t_non_retryable")
def t_non_retryable(ctx, _):
    policy = RetryPolicy(max_attempts=5, first_retry=timedelta(milliseconds=100))
    return (yield ctx.call_activity("t_broken", None, retry=policy))


@orchestrator(name="t_parent")
def t_parent(ctx, child_steps):
    try:
        result = yield ctx.call_sub_orchestrator("t_child", child_steps)
    except Exception as exc:  # noqa: BLE001 - the test checks the caught failure
        return {"child_failed": str(exc)}
    return {"child": result}


@orchestrator(name="t_child")
def t_child(ctx, steps):
    if steps < 0:
        raise ValueError("negative steps")
    return (yield ctx.call_sub_orchestrator("t_chain", steps))


@orchestrator(name="t_generations")
def t_generations(ctx, state):
    n = state["n"]
    yield ctx.call_activity("t_add", {"a": n, "b": 1})
    if n + 1 < state["until"]:
        ctx.continue_as_new({"n": n + 1, "until": state["until"]})
        return None
    return n + 1


@activity(name="t_sleep")
def t_sleep(ctx, seconds):
    import time

    time.sleep(seconds)
    return seconds


@orchestrator(name="t_slow_chain")
def t_slow_chain(ctx, spec):
    done = 0
    for _ in range(spec["steps"]):
        done += 1
        yield ctx.call_activity("t_sleep", spec["sleep"])
    return done
