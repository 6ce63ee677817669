"""Activity heartbeats: a throttle that decides when to write, and one run's beats.

Pure: the clock and the durable write are injected (workflows/runtime/activities.py
gives ``time.monotonic`` and one UPDATE of the task row). See docs/architecture.md,
"Heartbeats, timeouts and cancellation".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ActivityCancelled
from .payloads import check_size, round_trip


class _Nothing:
    """No details given (``ctx.heartbeat()``): the stored details stay as they are."""

    def __repr__(self) -> str:
        return "NO_DETAILS"


NO_DETAILS: Any = _Nothing()


@dataclass(frozen=True)
class Beat:
    """One heartbeat to write now, with the latest details given since the last write."""

    details: Any = NO_DETAILS

    @property
    def has_details(self) -> bool:
        return self.details is not NO_DETAILS


class HeartbeatThrottle:
    """When to write heartbeats: the first at once, then at most one per ``interval``.

    Beats in between only remember their details (the latest wins); the next allowed
    beat writes them. ``clock`` gives seconds (e.g. ``time.monotonic``).

    Example::

        throttle = HeartbeatThrottle(5.0, clock=time.monotonic)
        throttle.offer({"row": 1})    # Beat({"row": 1}): write it
        throttle.offer({"row": 2})    # None: too soon, remembered
        ...                           # 5 s later:
        throttle.offer()              # Beat({"row": 2}): the remembered details
    """

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self.interval = interval
        self._clock = clock
        self._last_write: float | None = None
        self._details: Any = NO_DETAILS

    def offer(self, details: Any = NO_DETAILS) -> Beat | None:
        """A beat: what to write now, or None while throttled (``details`` are kept)."""
        if details is not NO_DETAILS:
            self._details = details
        now = self._clock()
        if self._last_write is not None and now - self._last_write < self.interval:
            return None
        return self._take(now)

    def flush(self) -> Beat | None:
        """Details remembered but not written yet, as a beat to write now (else None)."""
        if self._details is NO_DETAILS:
            return None
        return self._take(self._clock())

    def put_back(self, beat: Beat) -> None:
        """A write that failed: its details go out with the next beat (unless newer come)."""
        if beat.has_details and self._details is NO_DETAILS:
            self._details = beat.details

    @property
    def pending(self) -> Any:
        """The details remembered and not yet written (NO_DETAILS when none)."""
        return self._details

    def _take(self, now: float) -> Beat:
        beat = Beat(self._details)
        self._details = NO_DETAILS
        self._last_write = now
        return beat


# The durable write of one beat: True while the task still runs for this run, False when
# it does not (cancelled, timed out, taken over), None when it could not be told.
HeartbeatWriter = Callable[[Beat], "bool | None"]


class Heartbeats:
    """The heartbeats of one activity run, behind ``ctx.heartbeat()``.

    Without a ``writer`` (unit tests of an activity) beats are only remembered.
    """

    def __init__(
        self,
        writer: HeartbeatWriter | None = None,
        *,
        interval: float = 0.0,
        clock: Callable[[], float] = lambda: 0.0,
        max_bytes: int | None = None,
        limit_setting: str = "DURABLE_MAX_PAYLOAD_BYTES",
    ) -> None:
        self._writer = writer
        self._throttle = HeartbeatThrottle(interval, clock)
        self.max_bytes = max_bytes
        self.limit_setting = limit_setting
        self.cancelled = False
        self.writes = 0
        self.details: Any = None  # the latest details given (written or not)

    def beat(self, details: Any = None) -> None:
        """Report liveness (and ``details``, JSON, when given); see ActivityContext.heartbeat."""
        if details is not None:
            details = round_trip(details, "heartbeat details")
            check_size(details, "heartbeat details", self.max_bytes, self.limit_setting)
            self.details = details
        if self.cancelled:
            raise ActivityCancelled("The activity was cancelled: its result is not wanted.")
        beat = self._throttle.offer(NO_DETAILS if details is None else details)
        if beat is not None:
            self._write(beat)
        if self.cancelled:
            raise ActivityCancelled("The activity was cancelled: its result is not wanted.")

    def flush(self) -> None:
        """Write details the throttle held back (an attempt that failed: the next resumes)."""
        if self.cancelled:
            return
        beat = self._throttle.flush()
        if beat is not None:
            self._write(beat)

    def _write(self, beat: Beat) -> None:
        if self._writer is None:
            return
        self.writes += 1
        running = self._writer(beat)
        if running is False:
            self.cancelled = True
        elif running is None:
            self._throttle.put_back(beat)
