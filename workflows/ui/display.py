"""Pure display helpers: durations, deadlines, progress, JSON. Used by the template tags."""

from __future__ import annotations

import json
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

    @property
    def percent(self) -> int:
        return max(0, min(100, round(100 * self.done / self.total))) if self.total else 0


_DONE_KEYS = ("completed", "processed", "done")
_TOTAL_KEYS = ("total", "of")


def progress_of(custom_status: Any) -> Progress | None:
    """A custom status like ``{"completed": 3, "total": 10}`` (or processed/done, total/of)."""
    if not isinstance(custom_status, dict):
        return None
    done = next((custom_status[k] for k in _DONE_KEYS if k in custom_status), None)
    total = next((custom_status[k] for k in _TOTAL_KEYS if k in custom_status), None)
    numbers = (int, float)
    if isinstance(done, bool) or isinstance(total, bool):
        return None
    if not isinstance(done, numbers) or not isinstance(total, numbers) or total <= 0:
        return None
    return Progress(int(done), int(total))


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
