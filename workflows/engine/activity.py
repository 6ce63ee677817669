"""What an activity function receives, and how one attempt is run."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any

from .converter import DEFAULT_CONVERTER, DataConverter
from .errors import ActivityCancelled
from .failures import FailureDetails
from .heartbeat import Heartbeats
from .registry import Registry


@dataclass(frozen=True)
class ActivityContext:
    """The ``ctx`` argument of an activity.

    ``idempotency_key`` is the same for every attempt and every redelivery of one
    scheduled call: pass it to outside services so a repeat has no double effect.

    Example::

        @activity(name="charge_payment")
        def charge_payment(ctx, order):
            return payments.charge(order["amount"], idempotency_key=ctx.idempotency_key)

    A long activity reports progress with :meth:`heartbeat` and resumes from
    ``last_heartbeat``, the details of the last heartbeat an earlier run or attempt of
    this call recorded (None at first)::

        @activity(name="import_rows", heartbeat_timeout=60)
        def import_rows(ctx, rows):
            start = (ctx.last_heartbeat or {}).get("done", 0)
            for i in range(start, len(rows)):
                store(rows[i])
                ctx.heartbeat({"done": i + 1})  # raises ActivityCancelled when unwanted
    """

    instance_id: str
    name: str
    attempt: int
    idempotency_key: str
    task_id: int = 0
    execution_id: str = "1"
    last_heartbeat: Any = None
    # Injected by the runtime (throttle clock, the durable write); a plain one otherwise.
    heartbeats: Heartbeats = field(default_factory=Heartbeats, compare=False, repr=False)
    # The registry's (run_activity sets it): typed heartbeat details get their JSON form.
    converter: DataConverter = field(default=DEFAULT_CONVERTER, compare=False, repr=False)

    def heartbeat(self, details: Any = None) -> None:
        """Say the activity is alive, with optional progress ``details``.

        Typed details (a datetime, a dataclass) are stored in their JSON form, which is
        what ``last_heartbeat`` gives the next attempt (plain JSON, not rebuilt).

        Written durably at most every few seconds (DURABLE_HEARTBEAT_INTERVAL_SECONDS);
        calls in between only keep the latest details, written by the next beat that is
        allowed (or when the attempt fails). ``None`` leaves the stored details as they
        were. Details over DURABLE_HEARTBEAT_MAX_BYTES raise PayloadTooLarge.

        Raises :class:`ActivityCancelled` once a write finds the task no longer running
        for this run: its instance was terminated or continued as new, or the attempt
        timed out. Whatever the activity returns after that is ignored.
        """
        if details is not None:
            details = self.converter.to_json(details, "heartbeat details")
        self.heartbeats.beat(details)

    @property
    def is_cancelled(self) -> bool:
        """True once a heartbeat's write found the task no longer wanted (see heartbeat)."""
        return self.heartbeats.cancelled


def idempotency_key(instance_id: str, execution_id: str, task_id: int) -> str:
    return f"{instance_id}:{execution_id}:{task_id}"


@dataclass(frozen=True)
class ActivityOutcome:
    ok: bool
    result: Any = None
    failure: FailureDetails | None = None


def is_async(registry: Registry, name: str) -> bool:
    """Whether activity ``name`` is an ``async def`` (the runtime runs it on its event loop).

    An unknown name is not: the plain path reports it as the attempt's failure.
    """
    try:
        return inspect.iscoroutinefunction(registry.get_activity(name).fn)
    except Exception:  # noqa: BLE001 - unknown activity: run_activity reports it
        return False


def run_activity(registry: Registry, ctx: ActivityContext, input: Any) -> ActivityOutcome:
    """Call the registered activity; any exception becomes failure details.

    The input is rebuilt from its stored JSON form by the activity's parameter hint, and
    the result turned into its JSON form (checked against the return annotation), so the
    orchestrator sees exactly what storage will give back on replay. A failed attempt
    writes the heartbeat details the throttle held back, so the next attempt resumes
    from the latest.
    An ``async def`` activity called here (the in-memory test runner) runs on an event
    loop of its own; the runtime awaits it with :func:`run_activity_async` instead.
    """
    ctx = _with_converter(registry, ctx)
    try:
        definition = registry.get_activity(ctx.name)
        value = definition.fn(ctx, _typed_input(registry, ctx, input))
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
        return _completed(registry, ctx, value)
    except Exception as exc:  # noqa: BLE001 - every activity error is reported, not raised
        return _failed(ctx, exc)


async def run_activity_async(
    registry: Registry, ctx: ActivityContext, input: Any
) -> ActivityOutcome:
    """:func:`run_activity` for an ``async def`` activity, awaited on the caller's loop.

    Cancelling the awaiting task (a timeout, the process stopping) raises
    ``asyncio.CancelledError`` out of here: that is no outcome, the caller decides.

    Example::

        outcome = await run_activity_async(registry, ctx, {"url": "https://example.com"})
    """
    ctx = _with_converter(registry, ctx)
    try:
        definition = registry.get_activity(ctx.name)
        value = definition.fn(ctx, _typed_input(registry, ctx, input))
        if inspect.isawaitable(value):
            value = await value
        return _completed(registry, ctx, value)
    except Exception as exc:  # noqa: BLE001 - every activity error is reported, not raised
        return _failed(ctx, exc)


async def _awaited(value: Any) -> Any:
    return await value


def _with_converter(registry: Registry, ctx: ActivityContext) -> ActivityContext:
    if ctx.converter is registry.converter:
        return ctx
    return dataclasses.replace(ctx, converter=registry.converter)


# A misfit raises PayloadMismatch, never retried: every attempt would meet the same one.
def _typed_input(registry: Registry, ctx: ActivityContext, input: Any) -> Any:
    """The stored input, rebuilt by the activity's parameter hint (engine/converter.py)."""
    hint = registry.payload_types("activity", ctx.name).input
    advice = (
        f"Not retried (the stored input stays the same): pass activity {ctx.name!r} an "
        "input of its parameter's type, or change that parameter's hint."
    )
    return registry.converter.from_json(input, hint, f"input of activity {ctx.name!r}", advice)


def _completed(registry: Registry, ctx: ActivityContext, value: Any) -> ActivityOutcome:
    # Its JSON form, checked against the return annotation here, where it was returned:
    # the orchestrator then decodes the stored form with the same hint.
    hint = registry.payload_types("activity", ctx.name).output
    what = f"result of activity {ctx.name!r}"
    advice = (
        f"Not retried (every attempt would return the same): make activity {ctx.name!r} "
        "return that type, or change its return annotation to what it returns (e.g. "
        "add `| None`)."
    )
    return ActivityOutcome(True, registry.converter.encode(value, what, hint, advice))


def _failed(ctx: ActivityContext, exc: Exception) -> ActivityOutcome:
    if not isinstance(exc, ActivityCancelled):
        ctx.heartbeats.flush()
    return ActivityOutcome(False, failure=FailureDetails.from_exception(exc))
