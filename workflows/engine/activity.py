"""What an activity function receives, and how one attempt is run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .failures import FailureDetails
from .payloads import round_trip
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
    """

    instance_id: str
    name: str
    attempt: int
    idempotency_key: str
    task_id: int = 0
    execution_id: str = "1"


def idempotency_key(instance_id: str, execution_id: str, task_id: int) -> str:
    return f"{instance_id}:{execution_id}:{task_id}"


@dataclass(frozen=True)
class ActivityOutcome:
    ok: bool
    result: Any = None
    failure: FailureDetails | None = None


def run_activity(registry: Registry, ctx: ActivityContext, input: Any) -> ActivityOutcome:
    """Call the registered activity; any exception becomes failure details.

    The result goes through a JSON round trip so the orchestrator sees exactly
    what storage will give back on replay.
    """
    try:
        definition = registry.get_activity(ctx.name)
        value = definition.fn(ctx, input)
        return ActivityOutcome(True, round_trip(value, f"result of activity {ctx.name!r}"))
    except Exception as exc:  # noqa: BLE001 - every activity error is reported, not raised
        return ActivityOutcome(False, failure=FailureDetails.from_exception(exc))
