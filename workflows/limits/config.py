"""Each activity's limits, resolved in memory from its decorator and the setting.

No query: unlimited activities cost nothing more than a dictionary look-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from ..conf import conf
from ..engine import default_registry
from ..engine.errors import RegistrationError
from ..engine.registry import check_activity_options, parse_rate
from ..runtime.queues import serves_default_queue


@dataclass(frozen=True)
class Limits:
    """The resolved limits of one activity (decorator options, then the setting)."""

    max_concurrency: int | None = None
    rate_limit: str | None = None
    queue: str | None = None

    @property
    def limited(self) -> bool:
        return self.max_concurrency is not None or self.rate_limit is not None

    @cached_property
    def rate(self) -> tuple[int, float] | None:
        """(starts, period seconds), e.g. (100, 60.0) for "100/m"."""
        return parse_rate(self.rate_limit) if self.rate_limit else None


NO_LIMITS = Limits()


class _Table:
    def __init__(self, key: tuple[int, int], limits: dict[str, Limits]) -> None:
        self.key = key
        self.limits = limits
        self.limited = frozenset(n for n, lim in limits.items() if lim.limited)
        self.queues = frozenset(lim.queue for lim in limits.values() if lim.queue)


_table = _Table((-1, -1), {})


def _build(setting: dict[str, Any]) -> dict[str, Limits]:
    options: dict[str, dict[str, Any]] = {}
    for name in default_registry.activity_names():
        declared = default_registry.get_activity(name).options
        if declared:
            options[name] = dict(declared)
    for name, override in setting.items():
        try:
            check_activity_options(name, override)
        except RegistrationError as exc:
            raise ImproperlyConfigured(f"DURABLE_ACTIVITY_LIMITS[{name!r}]: {exc}") from None
        options[name] = {**options.get(name, {}), **override}
    table = {}
    for name, given in options.items():
        limits = Limits(**{k: v for k, v in given.items() if v is not None})
        if limits != NO_LIMITS:
            table[name] = limits
    return table


def current() -> _Table:
    """The table for the registry and setting as they are now (rebuilt when either changes).

    The setting is read only on a rebuild: the hot path is one tuple comparison.
    """
    global _table
    key = (default_registry.changes, _setting_version)
    if _table.key != key:
        _table = _Table(key, _build(conf.ACTIVITY_LIMITS))
    return _table


_setting_version = 0


def _forget(setting: str, **_: Any) -> None:
    global _setting_version
    if setting == "DURABLE_ACTIVITY_LIMITS":
        _setting_version += 1


setting_changed.connect(_forget)


def limits_for(name: str) -> Limits:
    """The limits of activity ``name`` (NO_LIMITS when it has none). No query."""
    return current().limits.get(name, NO_LIMITS)


def limited_names() -> frozenset[str]:
    """Activities with a concurrency or rate limit."""
    return current().limited


def routed_queues() -> frozenset[str]:
    """Activities' own queues (``queue=``)."""
    return current().queues


def configured() -> bool:
    """Is any activity limited or routed to its own queue? (False: nothing changes.)"""
    return bool(current().limits)


def has_slots(name: str) -> bool:
    """Does a finished task of ``name`` free a slot (max_concurrency) for the next one?"""
    return limits_for(name).max_concurrency is not None


def runs_inline(name: str) -> bool:
    """May the thread whose episode scheduled this activity run it at once (no broker hop)?

    Not when it is limited (it waits its turn) or has its own queue (its pool runs it),
    nor when this process does not serve the default activity queue.
    """
    limits = limits_for(name)
    if limits.limited or limits.queue is not None:
        return False
    return serves_default_queue()
