"""Pure display helpers: durations, deadlines, progress, JSON. Used by the template tags."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def human_duration(value: timedelta | None) -> str:
    """``timedelta(seconds=185)`` -> ``"3 min 5 s"``; short and exact enough for people."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:  # seconds matter only for the first few minutes
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True)
class Deadline:
    text: str
    urgency: str  # "" | "soon" (under an hour) | "overdue"


def time_left(deadline: datetime | None, now: datetime) -> Deadline:
    if deadline is None:
        return Deadline("no deadline", "")
    left = deadline - now
    if left.total_seconds() <= 0:
        return Deadline(f"deadline passed {human_duration(-left)} ago", "overdue")
    return Deadline(f"{human_duration(left)} left", "soon" if left < timedelta(hours=1) else "")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    message: str = ""  # the custom status's "message" (or "step"), shown under the bar
    percent_only: bool = False  # {"progress": 40}: there is no "3 of 10" to say

    @property
    def percent(self) -> int:
        return max(0, min(100, round(100 * self.done / self.total))) if self.total else 0

    @property
    def label(self) -> str:
        if self.percent_only:
            return f"{self.percent}%"
        return f"{self.done} of {self.total} ({self.percent}%)"


_DONE_KEYS = ("completed", "processed", "done")
_TOTAL_KEYS = ("total", "of")
_MESSAGE_KEYS = ("message", "step")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def progress_of(custom_status: Any) -> Progress | None:
    """The progress convention of custom statuses, as a bar on every page:
    ``{"progress": 40}`` (percent; ``ctx.set_progress(40)``), or counts
    ``{"completed": 3, "total": 10}`` (or processed/done, total/of); an optional
    ``"message"`` (or ``"step"``) says what it is doing.

    Example::

        progress_of({"progress": 40, "message": "copying"}).label  # "40%"
    """
    if not isinstance(custom_status, dict):
        return None
    message = next(
        (str(custom_status[k]) for k in _MESSAGE_KEYS if isinstance(custom_status.get(k), str)),
        "",
    )
    percent = custom_status.get("progress")
    if _number(percent) and "total" not in custom_status:
        return Progress(int(max(0, min(100, percent))), 100, message, percent_only=True)
    done = next((custom_status[k] for k in _DONE_KEYS if k in custom_status), percent)
    total = next((custom_status[k] for k in _TOTAL_KEYS if k in custom_status), None)
    if not _number(done) or not _number(total) or total <= 0:
        return None
    return Progress(int(done), int(total), message)


def failure_summary(failure: Any) -> str:
    """``{"type": "pkg.mod.ValueError", "message": "no"}`` -> ``"ValueError: no"``."""
    if not isinstance(failure, dict):
        return ""
    short = str(failure.get("type") or "Error").rsplit(".", 1)[-1]
    message = failure.get("message") or ""
    return f"{short}: {message}" if message else short


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def fields_of(value: Any) -> list[tuple[str, str]] | None:
    """A flat dict as (label, text) rows for a definition list; None for anything else."""
    if not isinstance(value, dict) or not value:
        return None
    rows = []
    for key, item in value.items():
        if isinstance(item, str):
            text = item
        elif item is None or isinstance(item, bool | int | float):
            text = json.dumps(item)
        else:
            text = json.dumps(item, ensure_ascii=False, sort_keys=True, default=str)
        rows.append((str(key).replace("_", " "), text))
    return rows


@dataclass(frozen=True)
class Ending:
    """How a failed saga ended when that was planned for: its undo steps ran."""

    key: str  # "compensated" | "resolved-by-hand": the CSS class status-failed-<key>
    label: str
    hint: str


_BY_CODE = frozenset({"compensated"})
_BY_HAND = frozenset({"resolved_manually", "skipped"})


def ending_of(status: str, compensations: Iterable[str]) -> Ending | None:
    """A failed instance whose every compensation is settled is not a crash.

    ``ending_of("failed", ["compensated"]).label`` -> ``"failed — compensated"``; None for
    anything else (not failed, no compensation, or one not settled: an unexpected failure).
    """
    statuses = set(compensations)
    if status != "failed" or not statuses or not statuses <= _BY_CODE | _BY_HAND:
        return None
    if statuses <= _BY_CODE:
        return Ending(
            "compensated",
            "failed — compensated",
            "It failed as the workflow allows for, and every completed step was undone: "
            "nothing to recover.",
        )
    return Ending(
        "resolved-by-hand",
        "failed — compensation resolved by hand",
        "It failed and its undo steps were settled, some by an operator (resolved or "
        "skipped): see Compensations.",
    )


@dataclass(frozen=True)
class Field:
    """One line of an approval card's summary: label, text, and how to show it."""

    label: str
    text: str
    kind: str  # text | number | date | datetime (a <time> the browser shows in its zone)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def summary_fields(summary: Any) -> list[Field]:
    """An approval's ``summary`` as card lines: empty values left out, numbers with
    thousands separators (two decimals when fractional), dates spelled out.

    Example::

        summary_fields({"Amount": 1240.5, "Note": "", "Due": "2030-01-02"})
        # [Field("Amount", "1,240.50", "number"), Field("Due", "Wed 2 Jan 2030", "date")]
    """
    if not isinstance(summary, dict):
        return []
    rows = []
    for label, value in summary.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        rows.append(_field(str(label), value))
    return rows


def _field(label: str, value: Any) -> Field:
    if isinstance(value, bool):
        return Field(label, "yes" if value else "no", "text")
    if isinstance(value, int):
        return Field(label, f"{value:,}", "number")
    if isinstance(value, float):
        return Field(label, f"{value:,.2f}" if value != int(value) else f"{int(value):,}", "number")
    if isinstance(value, str) and _DATE.match(value):
        try:
            return Field(label, datetime.fromisoformat(value).strftime("%a %-d %b %Y"), "date")
        except ValueError:
            return Field(label, value, "text")
    if isinstance(value, str) and _DATETIME.match(value):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return Field(label, value, "text")
        if moment.tzinfo is not None:
            return Field(label, moment.isoformat(), "datetime")
        return Field(label, moment.strftime("%Y-%m-%d %H:%M"), "text")
    if isinstance(value, str):
        return Field(label, value, "text")
    return Field(label, json.dumps(value, ensure_ascii=False, sort_keys=True, default=str), "text")
