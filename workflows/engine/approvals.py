"""Human interaction: an approval request with a durable deadline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import actions as act
from .errors import ApprovalTimeout, WorkflowCodeError
from .payloads import round_trip
from .tasks import Task

if TYPE_CHECKING:
    from .state import ExecutionState

APPROVAL_EVENT_PREFIX = "durable:approval:"


def approval_event_name(task_id: int) -> str:
    """The internal event that carries the decision of request ``task_id``."""
    return f"{APPROVAL_EVENT_PREFIX}{task_id}"


def request_approval(
    state: ExecutionState,
    name: str,
    assignees: str,
    details: Any,
    timeout: timedelta | datetime | None,
    title: str = "",
    summary: Any = None,
    reason_required: bool = False,
) -> Task:
    """Record the request as a step, then wait for its decision event (or the deadline).

    Called by :meth:`OrchestrationContext.request_approval`, which documents the API.
    """
    if not isinstance(name, str) or not name.strip():
        raise WorkflowCodeError("request_approval needs a non-empty name.")
    if not isinstance(assignees, str) or not assignees.strip():
        raise WorkflowCodeError(
            "request_approval needs assignees: the name of the group that decides."
        )
    deadline: datetime | None = None
    if isinstance(timeout, timedelta):
        deadline = state.current_utc_datetime + timeout
    elif isinstance(timeout, datetime):
        deadline = timeout
    elif timeout is not None:
        raise WorkflowCodeError("request_approval timeout must be a timedelta or a datetime.")
    if not isinstance(title, str) or len(title) > 200:
        raise WorkflowCodeError("request_approval title must be text of at most 200 characters.")
    if summary is not None and not (
        isinstance(summary, dict) and all(isinstance(k, str) for k in summary)
    ):
        raise WorkflowCodeError(
            "request_approval summary must be a dict of labels to values, e.g. "
            '{"Amount": 120.5, "Purpose": "train tickets"}.'
        )
    if not isinstance(reason_required, bool):
        raise WorkflowCodeError("request_approval reason_required must be True or False.")
    task_id = state.next_task_id()
    details = round_trip(details, "approval details")
    summary = round_trip(summary, "approval summary")
    state.schedule(
        act.RequestApproval(
            task_id, name, assignees, details, deadline, title.strip(), summary, reason_required
        )
    )
    decision = state.wait_for_event(approval_event_name(task_id))
    if deadline is None:
        return decision
    timer = state.create_timer(deadline, purpose="approval_deadline")
    outcome = Task()

    def on_decision(t: Task) -> None:
        outcome.complete(t._result)

    def on_deadline(_t: Task) -> None:
        if outcome.is_complete:
            return
        state.stop_waiting(decision)
        state.emit_live(act.UpdateApproval(task_id, "expired"))
        outcome.fail(ApprovalTimeout(name, deadline))

    decision.add_listener(on_decision)
    timer.add_listener(on_deadline)
    return outcome
