"""Bulk actions, their targets and the checks of a request: which action, which filter
or ids, which reason (docs/architecture.md, "Bulk operations")."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from ..conf import conf
from ..engine.errors import ClientError, InstanceNotFound, InvalidInput
from ..models import CompensationRecord, Instance
from ..rules import (
    MAX_NOTE_LENGTH,
    MAX_REASON_LENGTH,
    check_business_key,
    check_event_name,
    check_instance_id,
    check_payload,
    check_text,
)
from ..statuses import ACTIVE, TERMINAL, CompensationStatus, InstanceStatus

log = logging.getLogger("workflows.bulk")

INSTANCES = "instances"
COMPENSATIONS = "compensations"
CHUNK_SIZE = 100  # targets per transaction, unless the operation says otherwise
MAX_CHUNK_SIZE = 1000
MAX_TARGETS = 100_000  # a filter matching more is refused: narrow it, or split the work
MAX_IDS = 10_000  # ids listed explicitly in one operation
SAMPLE_SIZE = 10
RETRY_MS = 500  # a chunk that hit a deadlock or a lock timeout runs again after this


@dataclass(frozen=True)
class BulkAction:
    """What one bulk action does, to what, and which targets allow it.

    ``allowed`` are the statuses (of the instance, or of the record's instance) for which
    the single action is not refused up front; the preview counts them, the single action
    still decides under its own lock.
    """

    name: str
    label: str
    target: str
    audit: str  # the audit action of the single action ("" : it writes none, we do)
    allowed: frozenset[str]
    done: str  # past tense, for messages
    permission: str = "operate_instance"  # besides operate_instance, which every one needs


_ACTIVE_FOR_DECISION = frozenset({InstanceStatus.RUNNING, InstanceStatus.SUSPENDED})
ACTIONS: dict[str, BulkAction] = {
    a.name: a
    for a in (
        BulkAction("terminate", "Terminate", INSTANCES, "terminate", ACTIVE, "terminated"),
        BulkAction(
            "suspend",
            "Suspend",
            INSTANCES,
            "suspend",
            frozenset({InstanceStatus.PENDING, InstanceStatus.RUNNING}),
            "suspended",
        ),
        BulkAction(
            "resume",
            "Resume",
            INSTANCES,
            "resume",
            frozenset({InstanceStatus.SUSPENDED}),
            "resumed",
        ),
        BulkAction(
            "rewind", "Rewind", INSTANCES, "rewind", frozenset({InstanceStatus.FAILED}), "rewound"
        ),
        BulkAction(
            "retry_episode",
            "Retry episode",
            INSTANCES,
            "retry_episode",
            frozenset({InstanceStatus.PENDING, InstanceStatus.RUNNING}),
            "woken for a new episode",
        ),
        BulkAction("restart", "Restart", INSTANCES, "restart", TERMINAL, "restarted"),
        BulkAction("purge", "Purge", INSTANCES, "purge", TERMINAL, "purged"),
        BulkAction(
            "raise_event", "Raise event", INSTANCES, "", ACTIVE, "sent the event", "raise_event"
        ),
        BulkAction(
            "compensation_retry",
            "Retry compensation",
            COMPENSATIONS,
            "compensation_retry",
            _ACTIVE_FOR_DECISION,
            "retried",
        ),
        BulkAction(
            "compensation_resolve",
            "Resolve compensation",
            COMPENSATIONS,
            "compensation_resolve",
            _ACTIVE_FOR_DECISION,
            "resolved by hand",
        ),
        BulkAction(
            "compensation_skip",
            "Skip compensation",
            COMPENSATIONS,
            "compensation_skip",
            _ACTIVE_FOR_DECISION,
            "skipped",
        ),
    )
}

INSTANCE_FILTER_KEYS = (
    "name",
    "status",
    "business_key",
    "created_after",
    "created_before",
    "needs_attention",
    "search",
)
# Compensation targets are always failed records (only those take a decision).
COMPENSATION_FILTER_KEYS = ("name", "activity", "instance_id")


class BulkOperationNotFound(InstanceNotFound):
    """No bulk operation with that id in this task hub (HTTP 404)."""

    def __init__(self, operation_id: Any):
        self.operation_id = operation_id
        ClientError.__init__(self, f"No bulk operation {operation_id!r} exists (in this task hub).")


def action_of(name: Any) -> BulkAction:
    """The action named ``name`` (``retry-episode`` and ``retry_episode`` alike)."""
    key = name.replace("-", "_") if isinstance(name, str) else name
    if key not in ACTIONS:
        raise InvalidInput(f"Unknown bulk action {name!r}; use one of {', '.join(ACTIONS)}.")
    return ACTIONS[key]


# -- filters --------------------------------------------------------------------------------


def _when(value: Any, key: str) -> str:
    """A filter time as ISO text (stored in the operation); naive times are UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                f"Filter {key}: {value!r} is not an ISO 8601 date/time, e.g. 2026-01-31T00:00."
            ) from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"Filter {key} must be a date/time, not {type(value).__name__}.")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.utc)
    return value.isoformat()


def _text(value: Any, key: str) -> str:
    return check_text(value, f"filter {key}", 200)


def check_filter(action: BulkAction, given: Any) -> dict[str, Any]:
    """``given`` as a stored filter: known keys only, each checked; empty values left out.

    Example::

        check_filter(ACTIONS["terminate"], {"status": "running", "name": "order"})
        # -> {"status": ["running"], "name": "order"}
        check_filter(ACTIONS["terminate"], {"colour": "red"})  # InvalidInput naming colour
    """
    if not isinstance(given, dict):
        raise InvalidInput("The filter must be an object of filter fields.")
    keys = INSTANCE_FILTER_KEYS if action.target == INSTANCES else COMPENSATION_FILTER_KEYS
    unknown = sorted(set(given) - set(keys))
    if unknown:
        raise InvalidInput(
            f"Unknown filter field {unknown[0]!r} for {action.name}; use {', '.join(keys)}."
        )
    found: dict[str, Any] = {}
    for key, value in given.items():
        if value is None or value == "" or value == []:
            continue
        if key == "status":
            statuses = [value] if isinstance(value, str) else value
            if not isinstance(statuses, list) or not all(isinstance(s, str) for s in statuses):
                raise InvalidInput("Filter status must be a status or a list of statuses.")
            bad = [s for s in statuses if s not in InstanceStatus.values]
            if bad:
                raise InvalidInput(
                    f"Unknown status {bad[0]!r}; use one of {', '.join(InstanceStatus.values)}."
                )
            found[key] = sorted(set(statuses))
        elif key in ("created_after", "created_before"):
            found[key] = _when(value, key)
        elif key == "needs_attention":
            if not isinstance(value, bool):
                raise InvalidInput("Filter needs_attention must be true or false.")
            found[key] = value
        elif key == "business_key":
            found[key] = check_business_key(value)
        elif key == "instance_id":
            found[key] = check_instance_id(value)
        else:
            found[key] = _text(value, key)
    return found


def instances_matching(hub: str, spec: dict[str, Any]) -> QuerySet[Instance]:
    """The instances a checked filter selects: the console's and ``DurableClient.query``'s
    meaning of each field, so the operator acts on exactly what the list showed."""
    qs = Instance.objects.filter(task_hub=hub)
    if spec.get("name"):
        qs = qs.filter(name=spec["name"])
    if spec.get("status"):
        qs = qs.filter(status__in=spec["status"])
    if spec.get("business_key"):
        qs = qs.filter(business_key=spec["business_key"])
    if spec.get("created_after"):
        qs = qs.filter(created_at__gte=datetime.fromisoformat(spec["created_after"]))
    if spec.get("created_before"):
        qs = qs.filter(created_at__lt=datetime.fromisoformat(spec["created_before"]))
    if spec.get("needs_attention") is not None:
        qs = qs.filter(needs_attention=spec["needs_attention"])
    if spec.get("search"):  # DurableClient.query's search, the same index
        qs = qs.search(spec["search"])
    return qs


def compensations_matching(hub: str, spec: dict[str, Any]) -> QuerySet[CompensationRecord]:
    """Failed compensation records of the hub that a checked filter selects."""
    qs = CompensationRecord.objects.filter(instance__task_hub=hub, status=CompensationStatus.FAILED)
    if spec.get("name"):
        qs = qs.filter(instance__name=spec["name"])
    if spec.get("activity"):
        qs = qs.filter(activity=spec["activity"])
    if spec.get("instance_id"):
        qs = qs.filter(instance__instance_id=spec["instance_id"])
    return qs


def _check_ids(action: BulkAction, ids: Any) -> list[str]:
    """Explicit targets, checked and without repeats (in the order given)."""
    what = "instance_ids" if action.target == INSTANCES else "compensation_ids"
    if not isinstance(ids, (list, tuple)) or not ids:
        raise InvalidInput(f"{what} must be a non-empty list.")
    if len(ids) > MAX_IDS:
        raise InvalidInput(f"{what} lists {len(ids)} targets; at most {MAX_IDS} per operation.")
    seen: dict[str, None] = {}
    for value in ids:
        if action.target == INSTANCES:
            seen[check_instance_id(value)] = None
        else:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10**18:
                raise InvalidInput(f"{what}: {value!r} is not a compensation record id.")
            seen[str(value)] = None
    return list(seen)


@dataclass(frozen=True)
class Request:
    """A checked request: the action, and a filter or an id list (exactly one)."""

    action: BulkAction
    filter: dict[str, Any] | None
    ids: list[str] | None


def check_request(
    action: Any, filter: Any = None, instance_ids: Any = None, compensation_ids: Any = None
) -> Request:
    """The action and its targets, checked; InvalidInput names what is wrong."""
    chosen = action_of(action)
    given = [
        n
        for n, v in (
            ("filter", filter),
            ("instance_ids", instance_ids),
            ("compensation_ids", compensation_ids),
        )
        if v is not None
    ]
    wanted = "instance_ids" if chosen.target == INSTANCES else "compensation_ids"
    if len(given) != 1 or given[0] not in ("filter", wanted):
        raise InvalidInput(
            f"{chosen.name} needs either a filter or {wanted} (exactly one of them)"
            + (
                f"; {given[-1]} is for the other kind of target."
                if given and given[-1] not in ("filter", wanted)
                else "."
            )
        )
    if filter is not None:
        return Request(chosen, check_filter(chosen, filter), None)
    return Request(chosen, None, _check_ids(chosen, instance_ids or compensation_ids))


# -- creating an operation ---------------------------------------------------------------------


def check_reason(action: BulkAction, reason: Any) -> str:
    """The operation's reason (a compensation decision's shared note): required."""
    what = "note" if action.target == COMPENSATIONS else "reason"
    limit = MAX_NOTE_LENGTH if action.target == COMPENSATIONS else MAX_REASON_LENGTH
    text = check_text("" if reason is None else reason, what, limit)
    if not text.strip():
        raise InvalidInput(
            f"A {what} is required for a bulk {action.name}: it goes into every changed "
            "instance's audit log."
        )
    return text


def check_parameters(action: BulkAction, event_name: Any, event_data: Any) -> dict[str, Any]:
    """raise_event's event (name and data); nothing for other actions."""
    if action.name != "raise_event":
        if event_name is not None or event_data is not None:
            raise InvalidInput(
                f"event_name and event_data are only for raise_event, not {action.name}."
            )
        return {}
    if event_name is None:
        raise InvalidInput("raise_event needs event_name: the event every instance receives.")
    check_event_name(event_name)
    check_payload(event_data, "event data", conf.MAX_PAYLOAD_BYTES)
    return {"event_name": event_name, "event_data": event_data}
