"""What an operator may do to an instance in its state, and why not: one pure answer used
by the pages (which buttons to offer, which to show disabled with the reason) and by the
services' refusals (``recovery``), so a button is never offered that the server refuses.

Example::

    facts = Facts("failed", kinds=("execution_started", "activity_failed", "execution_failed"))
    offers(facts)["rewind"].allowed  # True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .statuses import ACTIVE, TERMINAL, CompensationStatus, InstanceStatus

# History kinds that start a step, and the task failures rewind can re-run (recovery.py).
SCHEDULING = frozenset(
    {
        "activity_scheduled",
        "timer_created",
        "sub_orchestration_created",
        "marker_recorded",
        "compensation_registered",
        "approval_requested",
    }
)
TASK_FAILURES = frozenset({"activity_failed", "sub_orchestration_failed"})

# In the order the page shows them.
ACTIONS = ("suspend", "resume", "rewind", "retry-episode", "restart", "terminate")
_STATUSES: dict[str, frozenset[str]] = {
    "suspend": frozenset({InstanceStatus.PENDING, InstanceStatus.RUNNING}),
    "resume": frozenset({InstanceStatus.SUSPENDED}),
    "rewind": frozenset({InstanceStatus.FAILED}),
    "retry-episode": frozenset({InstanceStatus.PENDING, InstanceStatus.RUNNING}),
    "restart": frozenset(TERMINAL),
    "terminate": frozenset(ACTIVE),
}

NOT_AT_LAST_STEP = (
    "it did not fail on an activity or sub-orchestration at its last step (the "
    "orchestrator code raised, or it went on to other work such as compensations), so "
    "there is no failed step to run again; restart it instead"
)
WAITS_FOR_DECISION = (
    "it waits for a decision on a failed compensation, not for an episode: retry, "
    "resolve or skip the compensation instead"
)


@dataclass(frozen=True)
class Facts:
    """What the answer depends on: status, the current execution's history kinds in seq
    order (``None`` when not read), and the statuses of its compensation records."""

    status: str
    kinds: Sequence[str] | None = None
    compensations: Sequence[str] = ()

    @property
    def waits_for_decision(self) -> bool:
        return CompensationStatus.FAILED in self.compensations


@dataclass(frozen=True)
class Offer:
    """One action: ``allowed``, else ``reason`` says why; ``shown`` is False when the
    status makes it meaningless (no button at all), True when it is shown disabled."""

    action: str
    allowed: bool
    reason: str = ""
    shown: bool = True


def rewindable(kinds: Sequence[str]) -> bool:
    """True when the last step failed on a task (activity or sub-orchestration)."""
    last_scheduling = max((i for i, k in enumerate(kinds) if k in SCHEDULING), default=-1)
    return any(k in TASK_FAILURES for k in kinds[last_scheduling + 1 :])


def refusal(action: str, facts: Facts) -> str | None:
    """Why ``action`` is refused in this state (a sentence fragment), or None if allowed."""
    if facts.status not in _STATUSES[action]:
        return f"it is {facts.status}"
    if action == "rewind" and facts.kinds is not None and not rewindable(facts.kinds):
        return NOT_AT_LAST_STEP
    if action == "retry-episode" and facts.waits_for_decision:
        return WAITS_FOR_DECISION
    return None


def offers(facts: Facts) -> dict[str, Offer]:
    """Every action with whether the state allows it, in page order."""
    answer = {}
    for action in ACTIONS:
        why = refusal(action, facts)
        shown = facts.status in _STATUSES[action]
        answer[action] = Offer(action, why is None, why or "", shown)
    return answer
