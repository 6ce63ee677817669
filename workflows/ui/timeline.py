"""The instance page's history timeline: history rows -> readable entries with durations.

Pure: takes the rows of ``DurableClient.get_status(history=True)`` and computes
everything from their kinds, payloads and timestamps. Event kinds map to builders in a
table, not an if/elif chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from workflows.engine.approvals import APPROVAL_EVENT_PREFIX
from workflows.engine.saga import COMPENSATION_EVENT_PREFIX


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    seq: int
    kind: str
    title: str
    detail: str
    tone: str  # info | ok | bad | wait | muted (a CSS class)
    timestamp: datetime
    offset: timedelta  # since the execution started
    duration: timedelta | None = None  # since the matching start (scheduled -> completed)
    duration_label: str = ""  # "took", "waited", "ran"
    payload: Any = None  # input / result / event data: shown only with view_payloads
    has_payload: bool = False
    failure: dict[str, Any] | None = None  # also payload: shown only with view_payloads
    failed: bool = False  # a failure entry: says its details are hidden when they are
    name: str = ""  # the activity, timer purpose, sub-orchestration or approval it is about
    child_id: str = ""  # a sub-orchestration row's child instance id (a link)
    folds: bool = False  # an opening row whose closing row follows: hidden in compact view
    event: dict[str, Any] | None = None  # the whole event as stored (already redacted)


@dataclass(frozen=True)
class Span:
    """One bar of the waterfall: an activity, timer, sub-orchestration or approval wait,
    placed in percent of the execution's span so far."""

    name: str
    kind: str  # activity | timer | child | approval
    tone: str  # ok | bad | wait | info (a CSS class)
    start: timedelta
    duration: timedelta
    open: bool  # still running or waiting
    left: float  # percent
    width: float  # percent, at least a sliver so a 1 ms step still shows


@dataclass(frozen=True)
class Timeline:
    entries: list[Entry]
    episodes: int  # orchestrator turns (orchestrator_started events)
    spans: tuple[Span, ...] = ()

    @property
    def kinds(self) -> list[str]:
        """The event kinds present, for the history filter."""
        return sorted({e.kind for e in self.entries})

    @property
    def names(self) -> list[str]:
        return sorted({e.name for e in self.entries if e.name})


@dataclass(frozen=True)
class _Text:
    title: str
    detail: str = ""
    tone: str = "info"
    payload_key: str | None = None


def _name_of(start: dict[str, Any] | None, fallback: str = "?") -> str:
    return str((start or {}).get("name") or fallback)


def _execution_started(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    parent = p.get("parent_instance_id")
    detail = f"version {p.get('version', 1)}" + (f", child of {parent}" if parent else "")
    return _Text(f"Started {p.get('name', '')}", detail, "info", "input")


def _activity_scheduled(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    attempt = p.get("attempt") or 1
    detail = f"attempt {attempt}" if attempt > 1 else ""
    return _Text(f"Activity {p.get('name', '?')} scheduled", detail, "muted", "input")


def _activity_completed(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text(f"Activity {_name_of(start)} completed", "", "ok", "result")


def _activity_failed(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text(f"Activity {_name_of(start)} failed", "", "bad")


def _timer_created(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    purpose = p.get("purpose") or "timer"
    label = {"timer": "Timer", "retry": "Retry back-off"}.get(purpose, purpose.replace("_", " "))
    return _Text(f"{label.capitalize()} set", f"fires at {_clock(p.get('fire_at'))}", "wait")


def _timer_fired(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    purpose = (start or {}).get("purpose") or "timer"
    return _Text(f"{purpose.replace('_', ' ').capitalize()} fired", "", "muted")


def _child_created(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text(
        f"Sub-orchestration {p.get('name', '?')} started", str(p.get("instance_id", "")), "muted"
    )


def _child_completed(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text(f"Sub-orchestration {_name_of(start)} completed", "", "ok", "result")


def _child_failed(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text(f"Sub-orchestration {_name_of(start)} failed", "", "bad")


def _event_raised(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    name = str(p.get("name", ""))
    data = p.get("data") if isinstance(p.get("data"), dict) else {}
    if name.startswith(APPROVAL_EVENT_PREFIX):
        decision = data.get("decision", "decided")
        tone = "ok" if data.get("approved") else "bad"
        return _Text(
            f"Approval {_name_of(start, 'request')} {decision}", f"by {data.get('by', '?')}", tone
        )
    if name.startswith(COMPENSATION_EVENT_PREFIX):
        return _Text(
            f"Compensation decision: {data.get('action', '?')}", f"by {data.get('by', '?')}", "info"
        )
    event_id = p.get("event_id")
    return _Text(f"Event {name} received", f"id {event_id}" if event_id else "", "info", "data")


def _approval_requested(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    deadline = p.get("deadline")
    detail = f"group {p.get('assignees', '?')}" + (f", due {_clock(deadline)}" if deadline else "")
    return _Text(f"Approval {p.get('name', '?')} requested", detail, "wait", "details")


def _compensation_registered(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    step = p.get("step") or ""
    detail = f"undo of {step}" if step else ""
    return _Text(f"Compensation {p.get('name', '?')} registered", detail, "muted", "input")


def _marker(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text(f"Marker {p.get('name', '?')}", "", "muted")


def _search_attributes(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    # Not a payload: search attributes are shown wherever the instance is (lists, API).
    pairs = (p.get("attributes") or {}).items()
    detail = ", ".join(f"{k} removed" if v is None else f"{k}={v}" for k, v in pairs)
    return _Text("Search attributes set", detail, "info")


def _completed(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text("Completed", "", "ok", "output")


def _failed(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text("Failed", "", "bad")


def _terminated(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text("Terminated", str(p.get("reason") or ""), "bad")


def _continued(p: dict[str, Any], start: dict[str, Any] | None) -> _Text:
    return _Text("Continued as new", "a new execution started", "info", "input")


_BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, Any] | None], _Text]] = {
    "execution_started": _execution_started,
    "activity_scheduled": _activity_scheduled,
    "activity_completed": _activity_completed,
    "activity_failed": _activity_failed,
    "timer_created": _timer_created,
    "timer_fired": _timer_fired,
    "sub_orchestration_created": _child_created,
    "sub_orchestration_completed": _child_completed,
    "sub_orchestration_failed": _child_failed,
    "event_raised": _event_raised,
    "approval_requested": _approval_requested,
    "compensation_registered": _compensation_registered,
    "marker_recorded": _marker,
    "search_attributes_upserted": _search_attributes,
    "execution_completed": _completed,
    "execution_failed": _failed,
    "execution_terminated": _terminated,
    "continued_as_new": _continued,
}

# Kinds that open a task (keyed by task_id) and the duration label of what closes it.
_OPENS = {"activity_scheduled", "timer_created", "sub_orchestration_created", "approval_requested"}
_CLOSES = {
    "activity_completed": "took",
    "activity_failed": "took",
    "timer_fired": "waited",
    "sub_orchestration_completed": "took",
    "sub_orchestration_failed": "took",
}
_ENDINGS = {"execution_completed", "execution_failed", "execution_terminated", "continued_as_new"}
_FAILURES = {"activity_failed", "sub_orchestration_failed", "execution_failed"}


_SPAN_KIND = {
    "activity_scheduled": "activity",
    "timer_created": "timer",
    "sub_orchestration_created": "child",
    "approval_requested": "approval",
}
_CLOSED_TONE = {"ok": "ok", "bad": "bad"}


def _name(kind: str, payload: dict[str, Any], start: dict[str, Any] | None) -> str:
    if kind in ("timer_created", "timer_fired"):
        return str((start or payload).get("purpose") or "timer")
    return str(payload.get("name") or (start or {}).get("name") or "")


def build(rows: Iterable[dict[str, Any]], now: datetime | None = None) -> Timeline:
    """Entries for history rows (``seq``, ``kind``, ``payload``, ``timestamp``), in order,
    with the waterfall's spans (open ones end at ``now``, or at the last event)."""
    rows = list(rows)
    if not rows:
        return Timeline([], 0)
    began = rows[0]["timestamp"]
    opened: dict[int, tuple[dict[str, Any], datetime]] = {}
    opener_at: dict[int, int] = {}  # task id -> index of its opening entry
    closed: dict[int, tuple[str, datetime, str]] = {}  # opening index -> (kind, at, tone)
    started_at: datetime | None = None
    entries: list[Entry] = []
    episodes = 0
    for row in rows:
        kind, payload, at = row["kind"], row.get("payload") or {}, row["timestamp"]
        if kind == "orchestrator_started":
            episodes += 1
            continue
        task_id = payload.get("task_id")
        start, start_at = opened.get(task_id, (None, None)) if task_id is not None else (None, None)
        duration, label = None, ""
        if kind in _CLOSES and start_at is not None:
            duration, label = at - start_at, _CLOSES[kind]
        elif kind == "event_raised":
            start, duration, label = _decision_start(payload, opened, at)
        elif kind in _ENDINGS and started_at is not None:
            duration, label = at - started_at, "ran"
        builder = _BUILDERS.get(kind)
        text = builder(payload, start) if builder else _Text(kind.replace("_", " ").capitalize())
        if kind in _OPENS and task_id is not None:
            opened[task_id] = (payload, at)
            opener_at[task_id] = len(entries)
        if start is not None and task_id in opener_at and (kind in _CLOSES):
            closed[opener_at[task_id]] = (kind, at, text.tone)
        elif kind == "event_raised" and start is not None:
            closed_task = _approval_task(payload)
            if closed_task in opener_at:
                closed[opener_at[closed_task]] = (kind, at, text.tone)
        if kind == "execution_started":
            started_at = at
        entries.append(
            Entry(
                seq=row["seq"],
                kind=kind,
                title=text.title,
                detail=text.detail,
                tone=text.tone,
                timestamp=at,
                offset=at - began,
                duration=duration,
                duration_label=label,
                payload=payload.get(text.payload_key) if text.payload_key else None,
                has_payload=bool(text.payload_key) and payload.get(text.payload_key) is not None,
                failure=payload.get("failure"),
                failed=kind in _FAILURES,
                name=_name(kind, payload, start),
                child_id=str(payload.get("instance_id") or "")
                if kind == "sub_orchestration_created"
                else "",
                event={"seq": row["seq"], "kind": kind, "timestamp": at.isoformat(), **payload},
            )
        )
    entries = [replace(e, folds=True) if i in closed else e for i, e in enumerate(entries)]
    end = max(now or rows[-1]["timestamp"], rows[-1]["timestamp"])
    return Timeline(entries, episodes, _spans(entries, opener_at, closed, began, end))


def _spans(
    entries: list[Entry],
    opener_at: dict[int, int],
    closed: dict[int, tuple[str, datetime, str]],
    began: datetime,
    end: datetime,
) -> tuple[Span, ...]:
    total = max((end - began).total_seconds(), 0.001)
    spans = []
    for index in sorted(opener_at.values()):
        entry = entries[index]
        finish = closed.get(index)
        stop = finish[1] if finish else end
        start, duration = entry.timestamp - began, stop - entry.timestamp
        left = 100 * start.total_seconds() / total
        width = max(0.4, 100 * duration.total_seconds() / total)
        tone = _CLOSED_TONE.get(finish[2], "info") if finish else "wait"
        kind = _SPAN_KIND[entry.kind]
        spans.append(
            Span(
                entry.name or kind,
                kind,
                tone,
                start,
                duration,
                finish is None,
                round(min(left, 99.6), 2),
                round(min(width, 100 - min(left, 99.6)), 2),
            )
        )
    return tuple(spans)


def _approval_task(payload: dict[str, Any]) -> int | None:
    name = str(payload.get("name", ""))
    if not name.startswith(APPROVAL_EVENT_PREFIX):
        return None
    try:
        return int(name.removeprefix(APPROVAL_EVENT_PREFIX))
    except ValueError:
        return None


def _decision_start(
    payload: dict[str, Any], opened: dict[int, tuple[dict[str, Any], datetime]], at: datetime
) -> tuple[dict[str, Any] | None, timedelta | None, str]:
    """An approval decision closes its request: the wait is the people's time."""
    name = str(payload.get("name", ""))
    if not name.startswith(APPROVAL_EVENT_PREFIX):
        return None, None, ""
    try:
        task_id = int(name.removeprefix(APPROVAL_EVENT_PREFIX))
    except ValueError:
        return None, None, ""
    start, start_at = opened.get(task_id, (None, None))
    return start, (at - start_at if start_at else None), "waited"


def _clock(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)
