"""Who may see and do what: one rule for the API, the UI, the admin and the sockets.

See README, "Who may do what", and docs/architecture.md, "Who may do what".
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .engine.approvals import APPROVAL_EVENT_PREFIX
from .engine.saga import COMPENSATION_EVENT_PREFIX
from .models import (
    ActivityTask,
    ApprovalRequest,
    CompensationRecord,
    ExternalEvent,
    HistoryEvent,
    InboxMessage,
    Instance,
)
from .states import InstanceState
from .statuses import REPLAY_FAILED

# Django permissions of the workflows app; superusers hold them all.
VIEW = "view_instance"
PAYLOADS = "view_payloads"
OPERATE = "operate_instance"


def _has(user: Any, codename: str) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.has_perm(f"workflows.{codename}")
    )


def may_see_payloads(user: Any) -> bool:
    """Inputs, outputs, failure text, custom status, event data: workflows.view_payloads."""
    return _has(user, PAYLOADS)


def may_see_every_instance(user: Any) -> bool:
    """The console's rule: workflows.view_instance, or operate_instance (an operator sees
    what they act on). Others see only instances that ask one of their groups to decide."""
    return _has(user, VIEW) or _has(user, OPERATE)


def may_operate(by: Any) -> bool:
    """May ``by`` replace a finished instance? A user needs workflows.operate_instance;
    None and text actors ("cli", "system") are code in this process, which holds the
    database anyway."""
    if by is None or isinstance(by, str):
        return True
    return _has(by, OPERATE)


# -- what a user without view_payloads sees (README, "Who may do what") -------------------
# Columns holding workflow data, per model. Every surface hides them without
# view_payloads: the API and UI through redacted(), the admin by this table.
PAYLOAD_COLUMNS: dict[type, tuple[str, ...]] = {
    Instance: ("input", "output", "failure", "custom_status", "attention_reason"),
    HistoryEvent: ("payload",),
    InboxMessage: ("payload",),
    ActivityTask: ("input", "result", "failure", "heartbeat_details"),
    CompensationRecord: ("input", "last_error"),
    ApprovalRequest: ("details",),
    ExternalEvent: ("data", "reason"),
}
# History payload keys that tell the run's shape (names, ids, times), never its data. An
# allow-list: a value field added to an event later stays hidden.
_SHAPE_KEYS = frozenset(
    {"name", "version", "parent_instance_id", "parent_task_id", "task_id", "attempt"}
    | {"call_id", "idempotency_key", "fire_at", "purpose", "instance_id", "event_id"}
    | {"step", "order", "assignees", "deadline", "timestamp"}
)
# People's decisions arrive as internal events; who decided what is no workflow data (the
# approvals and compensations lists show it), their comments and notes are left out.
_DECISION_KEYS = frozenset({"decision", "approved", "by", "action"})
_DECISIONS = (APPROVAL_EVENT_PREFIX, COMPENSATION_EVENT_PREFIX)


def _attention_summary(reason: str) -> str:
    """The reason without its failure text (which may quote inputs)."""
    if not reason:
        return ""
    if reason.startswith("compensation"):
        what = "A compensation failed for good: retry, resolve or skip it."
    elif reason.startswith(REPLAY_FAILED):
        what = "Replaying its history failed with the deployed code: fix, then retry the episode."
    else:
        what = "It waits for a person."
    return f"{what} The error text needs workflows.{PAYLOADS}."


def _shape_of(row: dict[str, Any]) -> dict[str, Any]:
    payload = row.get("payload") or {}
    kept = {key: value for key, value in payload.items() if key in _SHAPE_KEYS}
    data = payload.get("data")
    if str(payload.get("name", "")).startswith(_DECISIONS) and isinstance(data, dict):
        kept["data"] = {key: value for key, value in data.items() if key in _DECISION_KEYS}
    return {**row, "payload": kept}


def redacted(state: InstanceState, user: Any) -> InstanceState:
    """``state`` as ``user`` may see it: the one payload rule of the API, UI and sockets.

    Without workflows.view_payloads: no input, output, failure or custom status, the
    attention reason without its error text, and history rows keeping only their shape
    (kinds, names, ids, times; who decided an approval). Anyone else gets ``state`` as is.

    Example::

        state = redacted(client.get_status("order-7", history=True), request.user)
        state.input, state.redacted  # (None, True) without view_payloads
    """
    if may_see_payloads(user):
        return state
    return replace(
        state,
        input=None,
        output=None,
        failure=None,
        custom_status=None,
        attention_reason=_attention_summary(state.attention_reason),
        history=None if state.history is None else [_shape_of(row) for row in state.history],
        redacted=True,
    )
