"""Activity timeouts: the options, which one has passed, and the failure it records.

Pure: the sweeper (workflows/runtime/sweeper.py) finds running tasks past a deadline and
asks :func:`which_timed_out` which one; the failure it records is :func:`timed_out`'s.
See docs/architecture.md, "Heartbeats, timeouts and cancellation".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .errors import ActivityTimedOut
from .failures import FailureDetails

START_TO_CLOSE = "start_to_close"
HEARTBEAT_TIMEOUT = "heartbeat_timeout"
TIMEOUT_OPTIONS = (START_TO_CLOSE, HEARTBEAT_TIMEOUT)


def to_seconds(value: Any, option: str) -> float | None:
    """``None``, or a timeout as positive seconds: from a number or a ``timedelta``.

    Raises ValueError (naming ``option``) for anything else.

    >>> to_seconds(timedelta(minutes=2), "start_to_close")
    120.0
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{option} must be a number of seconds or a timedelta, got {value!r}.")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{option} must be above 0 seconds (and finite), got {value!r}.")
    return seconds


@dataclass(frozen=True)
class ActivityTimeouts:
    """One activity call's timeouts in seconds; None: no such limit.

    ``start_to_close``: how long one run of one attempt may take. ``heartbeat_timeout``:
    how long it may go without a heartbeat (counted from its start until the first).
    """

    start_to_close: float | None = None
    heartbeat_timeout: float | None = None

    @classmethod
    def of(cls, start_to_close: Any = None, heartbeat_timeout: Any = None) -> ActivityTimeouts:
        """Validated timeouts from seconds or timedeltas (ValueError when bad)."""
        return cls(
            to_seconds(start_to_close, START_TO_CLOSE),
            to_seconds(heartbeat_timeout, HEARTBEAT_TIMEOUT),
        )

    def over(self, defaults: ActivityTimeouts) -> ActivityTimeouts:
        """These (a call's) win option by option over ``defaults`` (the decorator's)."""
        return ActivityTimeouts(
            self.start_to_close if self.start_to_close is not None else defaults.start_to_close,
            self.heartbeat_timeout
            if self.heartbeat_timeout is not None
            else defaults.heartbeat_timeout,
        )


NO_TIMEOUTS = ActivityTimeouts()


def which_timed_out(
    timeouts: ActivityTimeouts,
    now: datetime,
    started_at: datetime,
    heartbeat_at: datetime | None = None,
) -> str | None:
    """The timeout a run started at ``started_at`` has passed at ``now``, or None.

    ``start_to_close`` counts from the run's start; ``heartbeat_timeout`` from the later
    of the start and the last heartbeat (which may be an earlier attempt's). When both
    have passed, ``start_to_close`` is named.
    """
    limit = timeouts.start_to_close
    if limit is not None and now - started_at > timedelta(seconds=limit):
        return START_TO_CLOSE
    if timeouts.heartbeat_timeout is not None:
        last_sign = started_at if heartbeat_at is None else max(started_at, heartbeat_at)
        if now - last_sign > timedelta(seconds=timeouts.heartbeat_timeout):
            return HEARTBEAT_TIMEOUT
    return None


def timed_out(name: str, which: str, timeouts: ActivityTimeouts) -> FailureDetails:
    """The failure recorded for an attempt of activity ``name`` past timeout ``which``.

    Its type is :class:`ActivityTimedOut`: retried by a policy like other transient
    failures, raised as ``ActivityTimedOut`` in the orchestrator when none is left.
    """
    if which == START_TO_CLOSE:
        message = (
            f"activity {name!r} ran longer than its start_to_close of "
            f"{_seconds(timeouts.start_to_close)}"
        )
    elif which == HEARTBEAT_TIMEOUT:
        message = (
            f"activity {name!r} sent no heartbeat for its heartbeat_timeout of "
            f"{_seconds(timeouts.heartbeat_timeout)} (hung, or not calling ctx.heartbeat())"
        )
    else:
        raise ValueError(f"Unknown timeout {which!r}; one of {', '.join(TIMEOUT_OPTIONS)}.")
    return FailureDetails.of_type(ActivityTimedOut, message)


def _seconds(value: float | None) -> str:
    return f"{value:g} s"
