"""Compensation (saga): undo completed steps in reverse order, never silently."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import actions as act
from .errors import ActivityFailed, FanOutFailed, WorkflowCodeError
from .failures import FailureDetails
from .registry import name_of
from .retry import RetryPolicy
from .tasks import Outcome, Task, WhenAll

if TYPE_CHECKING:
    from .context import OrchestrationContext
    from .state import ExecutionState

COMPENSATION_EVENT_PREFIX = "durable:compensation:"


def compensation_event_name(task_id: int) -> str:
    """The internal event carrying an operator's decision on a failed compensation."""
    return f"{COMPENSATION_EVENT_PREFIX}{task_id}"


def compensation_id(instance_id: str, execution_id: str, task_id: int) -> str:
    """The stable id of a compensation, also the idempotency key of its activity."""
    return f"{instance_id}:{execution_id}:comp:{task_id}"


@dataclass(frozen=True)
class CompensationStep:
    task_id: int
    activity: str
    input: Any
    step: str
    order: int
    retry: RetryPolicy | None


@dataclass(frozen=True)
class CompensationOutcome:
    """How one registered compensation ended: compensated, resolved_manually or skipped."""

    activity: str
    step: str
    status: str
    attempts: int
    by: str | None = None
    note: str = ""
    result: Any = None


class Saga:
    """A compensation scope created by ``ctx.saga()``.

    Each ``add`` becomes a typed compensation record (written with the episode). On
    failure, ``yield from saga.compensate()`` runs the undo steps in reverse order
    (or ``order=[...]``), each with its retry policy. A compensation that fails for
    good is never swallowed: its record turns ``failed``, the instance is flagged for
    a person, and the saga waits durably for an operator to retry, resolve or skip it.
    """

    def __init__(
        self,
        ctx: OrchestrationContext,
        state: ExecutionState,
        activity_input: Callable[[str, Any, str], Any],
    ) -> None:
        self._ctx = ctx
        # (activity name, value, what) -> its JSON form, checked against the activity's
        # parameter hint: a compensation's input is typed as a call_activity input is.
        self._activity_input = activity_input
        # Compensation records are steps of their own, and live updates the runtime
        # shows: both are run-time state, not part of the orchestrator's API.
        self._state = state
        self.steps: list[CompensationStep] = []
        self.outcomes: list[CompensationOutcome] = []

    def add(
        self,
        compensation: str | Callable[..., Any],
        input: Any = None,
        *,
        step: str = "",
        retry: RetryPolicy | None = None,
    ) -> None:
        """Register the undo of a step that just succeeded (``step`` names it for people).

        ``input`` may be typed like a ``call_activity`` input: stored in its JSON form,
        checked here against the compensation activity's parameter hint (PayloadError
        naming the field), and rebuilt by that hint when the compensation runs.

        Example::

            saga.add(release_stock, Reservation(order.id, sku), step="reserve")
        """
        name = name_of(compensation)
        value = self._activity_input(name, input, f"input of compensation {name!r}")
        task_id = self._state.next_task_id()
        order = len(self.steps) + 1
        self._state.schedule(act.RegisterCompensation(task_id, name, value, step, order))
        self.steps.append(CompensationStep(task_id, name, value, step, order, retry))

    def add_for_completed(
        self,
        error: FanOutFailed,
        compensation: str | Callable[..., Any],
        input_for: Callable[[int, Any], Any],
        *,
        step: str = "",
        retry: RetryPolicy | None = None,
    ) -> int:
        """After a partly failed ``task_all``, register an undo for each completed item.

        ``input_for(index, result)`` builds each compensation's input. Returns how many
        were registered.
        """
        for outcome in error.completed:
            label = f"{step or name_of(compensation)}[{outcome.index}]"
            self.add(
                compensation, input_for(outcome.index, outcome.result), step=label, retry=retry
            )
        return len(error.completed)

    def compensate(
        self, order: Iterable[str] | None = None
    ) -> Generator[Task, Any, list[CompensationOutcome]]:
        """Run every registered compensation (reverse order unless ``order`` names one).

        Use with ``yield from``. Returns the outcome of each step, also kept in
        ``saga.outcomes``.
        """
        for step in self._ordered(order):
            outcome = yield from self._compensate_one(step)
            self.outcomes.append(outcome)
        self.steps = []
        return list(self.outcomes)

    def _ordered(self, order: Iterable[str] | None) -> list[CompensationStep]:
        steps = list(reversed(self.steps))
        if order is None:
            return steps
        ranking = {name: i for i, name in enumerate(order)}
        unknown = set(ranking) - {s.activity for s in steps} - {s.step for s in steps}
        if unknown:
            raise WorkflowCodeError(
                f"compensate(order=...) names {sorted(unknown)}, which were never registered."
            )

        def rank(s: CompensationStep) -> int:
            return ranking.get(s.step, ranking.get(s.activity, len(ranking)))

        return sorted(steps, key=rank)  # stable: unranked keep reverse order

    def _compensate_one(self, step: CompensationStep) -> Generator[Task, Any, CompensationOutcome]:
        ctx, state = self._ctx, self._state
        key = compensation_id(ctx.instance_id, ctx.execution_id, step.task_id)
        attempts = 0
        while True:
            state.emit_live(act.UpdateCompensation(step.task_id, "compensating", None, attempts))
            call = ctx.call_activity(
                step.activity, step.input, retry=step.retry, _idempotency_key=key
            )
            try:
                result = yield call
            except ActivityFailed as exc:
                attempts += exc.attempts
                failure = exc.failure or FailureDetails("Error", str(exc))
                state.emit_live(act.UpdateCompensation(step.task_id, "failed", failure, attempts))
                label = step.step or step.activity
                ctx.set_custom_status(
                    {
                        "state": "compensation_failed",
                        "unresolved_step": label,
                        "compensation": step.activity,
                        "compensation_id": key,
                        "error": failure.summary(),
                    }
                )
                ctx.logger.error(
                    "compensation %s (%s) failed for good: %s", label, key, failure.summary()
                )
                decision = yield ctx.wait_for_external_event(compensation_event_name(step.task_id))
                action = (decision or {}).get("action")
                if action == "retry":
                    continue
                status = "resolved_manually" if action == "resolve" else "skipped"
                return CompensationOutcome(
                    step.activity,
                    step.step,
                    status,
                    attempts,
                    (decision or {}).get("by"),
                    (decision or {}).get("note", ""),
                )
            # Attempts the retry policy made before this one succeeded count too.
            attempts += getattr(call, "attempt", 1)
            state.emit_live(act.UpdateCompensation(step.task_id, "compensated", None, attempts))
            return CompensationOutcome(
                step.activity, step.step, "compensated", attempts, result=result
            )


def retry_failed(
    ctx: OrchestrationContext,
    error: FanOutFailed,
    activity: str | Callable[..., Any],
    inputs: list[Any],
    *,
    retry: RetryPolicy | None = None,
) -> Generator[Task, Any, list[Any]]:
    """After a partly failed ``task_all`` over ``inputs``, run only the failed items again.

    Use with ``yield from``; returns all results in input order, or raises a new
    :class:`FanOutFailed` (indexes of the original list) if some still fail.
    """
    if len(error.outcomes) != len(inputs):
        raise WorkflowCodeError(
            f"retry_failed got {len(inputs)} inputs for a fan-out of {len(error.outcomes)} tasks."
        )
    outcomes = {o.index: o for o in error.outcomes}
    failed = [o.index for o in error.failed]
    try:
        again = yield WhenAll([ctx.call_activity(activity, inputs[i], retry=retry) for i in failed])
    except FanOutFailed as still:
        for o in still.outcomes:
            outcomes[failed[o.index]] = Outcome(failed[o.index], o.ok, o.result, o.error)
        raise FanOutFailed([outcomes[i] for i in range(len(inputs))]) from None
    for i, value in zip(failed, again, strict=True):
        outcomes[i] = Outcome(i, True, value)
    return [outcomes[i].result for i in range(len(inputs))]
