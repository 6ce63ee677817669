"""Orchestrators and activities used by runtime tests (imported by worker processes too)."""

from __future__ import annotations

from datetime import timedelta

from workflows.engine import EventTimeout, NonRetryableError, RetryPolicy, activity, orchestrator


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


# -- used by tests/runtime ------------------------------------------------------------
@activity(name="t_touch")
def t_touch(ctx, spec):
    """Append one line per run to ``spec["path"]``: counts side effects across processes."""
    with open(spec["path"], "a") as out:
        out.write(f"{ctx.idempotency_key} {ctx.attempt}\n")
    return spec.get("value")


@orchestrator(name="t_touch_twice")
def t_touch_twice(ctx, path):
    first = yield ctx.call_activity("t_touch", {"path": path, "value": 1})
    second = yield ctx.call_activity("t_touch", {"path": path, "value": 2})
    return first + second


@activity(name="t_until_file")
def t_until_file(ctx, path):
    """Runs until the file ``path`` exists: the test decides when the step ends."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + 120  # only if the test failed before creating it
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.01)
    return path


@orchestrator(name="t_event_after_step")
def t_event_after_step(ctx, gate):
    """An event raised while the first step still runs (until the file ``gate`` exists)
    is buffered for the wait."""
    yield ctx.call_activity("t_until_file", gate)
    data = yield ctx.wait_for_external_event("approve")
    return {"got": data}


@orchestrator(name="t_event_or_timeout")
def t_event_or_timeout(ctx, timeout_seconds):
    try:
        data = yield ctx.wait_for_external_event(
            "approve", timeout=timedelta(seconds=timeout_seconds)
        )
    except EventTimeout:
        return {"timed_out": True}
    return {"got": data}


@orchestrator(name="t_collect")
def t_collect(ctx, count):
    """Collect ``count`` "item" events in arrival order."""
    items = []
    for _ in range(count):
        items.append((yield ctx.wait_for_external_event("item")))
    return items


@orchestrator(name="t_progress")
def t_progress(ctx, steps):
    for i in range(steps):
        yield ctx.call_activity("t_add", {"a": i, "b": 0})
        ctx.set_custom_status({"done": i + 1, "of": steps})
    yield ctx.wait_for_external_event("finish")
    ctx.set_custom_status({"done": steps, "of": steps, "finished": True})
    return steps


@orchestrator(name="t_busy_parent")
def t_busy_parent(ctx, spec):
    """A child waiting forever beside many slow activities: something to terminate."""
    child = ctx.call_sub_orchestrator("t_wait_event", 0)
    work = [ctx.call_activity("t_sleep", spec["sleep"]) for _ in range(spec["tasks"])]
    yield ctx.task_all([child, *work])
    return "finished"


@orchestrator(name="t_wide_slow")
def t_wide_slow(ctx, spec):
    """A fan-out of slow activities whose results are all kept (crash tests)."""
    results = yield ctx.task_all(
        [
            ctx.call_activity("t_slow_add", {"i": i, "sleep": spec["sleep"]})
            for i in range(spec["count"])
        ]
    )
    return sum(results)


@activity(name="t_slow_add")
def t_slow_add(ctx, spec):
    import time

    time.sleep(spec["sleep"])
    return spec["i"] + 1


@orchestrator(name="t_timer_then_add")
def t_timer_then_add(ctx, seconds):
    yield ctx.create_timer(timedelta(seconds=seconds))
    return (yield ctx.call_activity("t_add", {"a": seconds, "b": 1}))


@orchestrator(name="t_slow_sum_chain")
def t_slow_sum_chain(ctx, spec):
    """Each step's result feeds the next: a lost or repeated result changes the output."""
    total = 0
    for _ in range(spec["steps"]):
        total = yield ctx.call_activity("t_slow_add", {"i": total, "sleep": spec["sleep"]})
    return total


@orchestrator(name="t_bounded_slow")
def t_bounded_slow(ctx, spec):
    """A bounded fan-out: results keep arriving while a few tasks stay open."""
    items = [{"i": i, "sleep": spec["sleep"]} for i in range(spec["count"])]
    results = yield from ctx.bounded_fan_out("t_slow_add", items, spec["parallel"])
    return sum(results)


class WorkerInterrupted(BaseException):  # noqa: N818 - what happened to the worker
    """Not an activity error: what a worker shutting down mid-activity raises."""


@activity(name="t_interruptible")
def t_interruptible(ctx, spec):
    if spec["i"] == spec["at"]:
        raise WorkerInterrupted(f"interrupted at {spec['i']}")
    return spec["i"]


@orchestrator(name="t_fan_out_interrupted")
def t_fan_out_interrupted(ctx, spec):
    calls = [
        ctx.call_activity("t_interruptible", {"i": i, "at": spec["at"]})
        for i in range(spec["count"])
    ]
    return sum((yield ctx.task_all(calls)))


@orchestrator(name="t_tagged")
def t_tagged(ctx, attributes):
    """Sets the given search attributes, one step, then more at the end."""
    ctx.upsert_search_attributes(attributes)
    total = yield ctx.call_activity("t_add", {"a": 1, "b": 1})
    ctx.upsert_search_attributes({"total": total})
    return total
