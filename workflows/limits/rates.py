"""The arithmetic of a rate limit's sliding window (pure: no clock, no database).

A period is counted in RATE_SLOTS slots; a start is allowed while the slots overlapping
the last period hold fewer than N starts, so no period ever holds more than N.
"""

from __future__ import annotations

import math

RATE_SLOTS = 20  # a rate limit's period is counted in this many slots


def rate_wait(
    recent: list[list[float]], rate: tuple[int, float], now: float
) -> tuple[float, list[list[float]]]:
    """Seconds until a start is allowed (0: now), and the slots still in the window.

    ``recent`` is ``[[slot start, starts], ...]``, slots being 1/RATE_SLOTS of the period.

    Example::

        >>> rate_wait([[0.0, 2]], (2, 1.0), 0.5)  # 2 per second, both used at t=0
        (0.55, [[0.0, 2]])
    """
    limit, period = rate
    size = period / RATE_SLOTS
    window = [[start, n] for start, n in recent if start + size + period > now]
    total = sum(n for _start, n in window)
    if total < limit:
        return 0.0, window
    excess = total - limit + 1
    for start, n in sorted(window):
        excess -= n
        if excess <= 0:
            return start + size + period - now, window
    raise AssertionError("unreachable: the window holds more than the excess")


def count_start(window: list[list[float]], rate: tuple[int, float], now: float) -> int:
    """Add one start at ``now`` to ``window`` (in place); returns the starts in it."""
    size = rate[1] / RATE_SLOTS
    slot = math.floor(now / size) * size
    for entry in window:
        if entry[0] == slot:
            entry[1] += 1
            break
    else:
        window.append([slot, 1])
    return sum(n for _start, n in window)
