"""A schedule as given (API body, CLI options, ``@orchestrator(schedule=...)``), checked
field by field into the model's columns. Every refusal is a ScheduleFieldError naming the
field; nothing is written here.

Example::

    check_spec({"orchestrator": "nightly_cleanup", "cron": "30 2 * * *",
                "timezone": "Europe/Berlin"}, registry)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..conf import conf
from ..engine.errors import InvalidInput
from ..engine.registry import Registry
from ..rules import MAX_NOTE_LENGTH, check_instance_id, check_payload, check_text
from . import policies
from .models import Schedule
from .timing import ScheduleFieldError, timetable

MAX_SCHEDULE_ID = 150
MAX_CATCHUP_WINDOW = 7 * 24 * 3600

# field as given -> column (the timing fields are checked together by timing.timetable)
FIELDS = {
    "orchestrator": "orchestrator",
    "version": "version",
    "input": "input",
    "pass_scheduled_time": "pass_scheduled_time",
    "cron": "cron",
    "timezone": "timezone",
    "interval": "interval_seconds",
    "offset": "offset_seconds",
    "start_at": "start_at",
    "end_at": "end_at",
    "jitter": "jitter_seconds",
    "overlap": "overlap",
    "catchup": "catchup",
    "catchup_window": "catchup_window_seconds",
    "note": "note",
}
DEFAULTS = {
    "version": None,
    "input": None,
    "pass_scheduled_time": False,
    "cron": "",
    "timezone": "UTC",
    "interval": 0,
    "offset": 0,
    "start_at": None,
    "end_at": None,
    "jitter": 0,
    "overlap": policies.SKIP,
    "catchup": policies.LATEST,
    "catchup_window": 3600,
    "note": "",
}


def check_schedule_id(value: Any) -> str:
    try:
        value = check_instance_id(value, "schedule id")
    except InvalidInput as exc:
        raise ScheduleFieldError("id", str(exc)) from None
    if len(value) > MAX_SCHEDULE_ID:
        raise ScheduleFieldError("id", f"at most {MAX_SCHEDULE_ID} characters.")
    return value


def spec_of(schedule: Schedule) -> dict[str, Any]:
    """The schedule as given (the inverse of :func:`check_spec`)."""
    return {field: getattr(schedule, column) for field, column in FIELDS.items()}


def _when(field: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ScheduleFieldError(
                field,
                f"give an ISO 8601 date and time such as 2026-01-31T02:00:00Z, got {value!r}.",
            ) from None
    return value


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ScheduleFieldError(field, f"one of {', '.join(choices)}; got {value!r}.")
    return value


def _version(value: Any, name: str, registry: Registry) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScheduleFieldError("version", f"a positive whole number or null, got {value!r}.")
    if not registry.has_orchestrator(name, value):
        known = registry.orchestrator_versions(name)
        raise ScheduleFieldError("version", f"{name!r} has no version {value}; known: {known}.")
    return value


def check_spec(spec: Mapping[str, Any], registry: Registry) -> dict[str, Any]:
    """The columns of a schedule given as ``spec`` (missing fields take their defaults)."""
    unknown = sorted(set(spec) - set(FIELDS))
    if unknown:
        raise ScheduleFieldError(
            unknown[0], f"unknown field; a schedule takes {', '.join(FIELDS)}."
        )
    given = {**DEFAULTS, **spec}
    name = given.get("orchestrator")
    if not isinstance(name, str) or not registry.has_orchestrator(name):
        known = ", ".join(registry.orchestrator_names()) or "none"
        raise ScheduleFieldError("orchestrator", f"unknown orchestrator {name!r}; known: {known}.")
    if not isinstance(given["pass_scheduled_time"], bool):
        raise ScheduleFieldError("pass_scheduled_time", "true or false.")
    try:
        check_payload(given["input"], "input", conf.MAX_PAYLOAD_BYTES)
    except InvalidInput as exc:
        raise ScheduleFieldError("input", str(exc)) from None
    if given["pass_scheduled_time"] and not isinstance(given["input"], dict | None):
        raise ScheduleFieldError(
            "input", "with pass_scheduled_time the input must be an object (or null)."
        )
    table = timetable(
        cron=given["cron"] or "",
        timezone=given["timezone"],
        interval=given["interval"] or None,
        offset=given["offset"],
        start_at=_when("start_at", given["start_at"]),
        end_at=_when("end_at", given["end_at"]),
        jitter=given["jitter"],
    )
    window = given["catchup_window"]
    if (
        isinstance(window, bool)
        or not isinstance(window, int)
        or not 0 <= window <= MAX_CATCHUP_WINDOW
    ):
        raise ScheduleFieldError(
            "catchup_window", f"whole seconds from 0 to {MAX_CATCHUP_WINDOW}, got {window!r}."
        )
    try:
        note = check_text(given["note"], "note", MAX_NOTE_LENGTH)
    except InvalidInput as exc:
        raise ScheduleFieldError("note", str(exc)) from None
    return {
        "orchestrator": name,
        "version": _version(given["version"], name, registry),
        "input": given["input"],
        "pass_scheduled_time": given["pass_scheduled_time"],
        "cron": table.cron,
        "timezone": table.timezone,
        "interval_seconds": table.interval,
        "offset_seconds": table.offset,
        "start_at": table.start_at,
        "end_at": table.end_at,
        "jitter_seconds": table.jitter,
        "overlap": _choice("overlap", given["overlap"], policies.OVERLAP),
        "catchup": _choice("catchup", given["catchup"], policies.CATCHUP),
        "catchup_window_seconds": window,
        "note": note,
    }


def declared_spec(name: str, declared: str | Mapping[str, Any]) -> dict[str, Any]:
    """``@orchestrator(schedule=...)`` as a spec: a cron text or a dict of fields."""
    spec = {"cron": declared} if isinstance(declared, str) else dict(declared)
    return {"orchestrator": name, **spec}
