"""Entities and orchestrators of the entity tests (registered on import)."""

import time

from workflows.engine import activity, entity, orchestrator


@entity(name="t_log", operations=["append", "slow_append", "get", "boom", "fan"])
def t_log(ctx, operation, value):
    """Keeps every value appended, in order (so order and exactly-once show)."""
    items = ctx.state or []
    if operation == "slow_append":  # a batch long enough to be killed in the middle
        time.sleep(0.01)
        operation = "append"
    if operation == "append":
        items.append(value)
        ctx.state = items
        return len(items)
    if operation == "boom":
        ctx.state = ["broken"]
        ctx.signal_entity(("t_log", "echo"), "append", "never")
        raise ValueError(f"boom {value}")
    if operation == "fan":
        for key in value:
            ctx.signal_entity(("t_log", key), "append", ctx.key)
        return None
    return items


@orchestrator(name="t_call")
def t_call(ctx, key):
    """Appends twice, reads back, and reports the error of a failing operation."""
    target = ("t_log", key)
    ctx.signal_entity(target, "append", "signal")
    size = yield ctx.call_entity(target, "append", "call")
    try:
        yield ctx.call_entity(target, "boom", 1)
    except Exception as exc:  # noqa: BLE001 - the test reads the message
        error = str(exc)
    items = yield ctx.call_entity(target, "get")
    return {"size": size, "items": items, "error": error}


@orchestrator(name="t_hold")
def t_hold(ctx, key):
    """Locks ("t_log", key), appends its name, waits for "go", then ends (or fails)."""
    target = ("t_log", key)
    yield ctx.lock([target])
    yield ctx.call_entity(target, "append", f"{ctx.instance_id}:in")
    decision = yield ctx.wait_for_external_event("go")
    yield ctx.call_entity(target, "append", f"{ctx.instance_id}:out")
    if decision == "fail":
        raise RuntimeError("failing while holding the lock")
    return "done"


@entity(name="t_counter", operations=["add", "get"])
def t_counter(ctx, operation, value):
    """A number: the benchmark's entity (small state, like a real counter)."""
    if operation == "add":
        ctx.state = (ctx.state or 0) + value
    return ctx.state or 0


@activity(name="t_echo")
def t_echo(ctx, value):
    return value


@orchestrator(name="t_calls")
def t_calls(ctx, spec):
    """``count`` sequential round trips: entity calls, or (baseline) activity calls."""
    for n in range(spec["count"]):
        if spec["kind"] == "entity":
            yield ctx.call_entity(("t_counter", spec["key"]), "add", 1)
        else:
            yield ctx.call_activity("t_echo", n)
    return spec["count"]
