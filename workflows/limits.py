"""Per-activity concurrency and rate limits across all workers, kept in the database.

An activity declared ``@activity(name=..., max_concurrency=5, rate_limit="100/m",
queue="partner-api")``, or limited by name in DURABLE_ACTIVITY_LIMITS (the setting wins):

* **Slots** are the activity's RUNNING tasks with a live lease, counted while holding its
  ActivityLimitState row lock, so all workers agree, and a crashed worker's slot comes
  back by itself when its lease expires.
* **Rate**: starts are counted per 1/20 of the period on the same row; a start is allowed
  while the last period (rounded out to whole slots) holds fewer than N. Never more than
  N in any period; a steady stream gets about 95 % of N.
* **Waiting is durable**: a task that cannot start stays SCHEDULED (no attempt, no retry).
  A limited activity's message is a wake-up for the *activity*: whoever gets one starts
  its next waiting task, round robin over instances, so a big fan-out does not starve
  other instances' calls. A finished task's thread takes the slot it freed for the next
  task in turn (or, busy with its instance's next step, sends a wake-up on commit).
  Wake-ups also come from new tasks, from a start that leaves room (passed on), after
  the time the rate needs (a delayed message) and from the sweeper (room left, nothing
  started lately: a lost message).
* **Unlimited activities cost nothing more**: limits are resolved in memory.
* **Queues**: ``queue=`` sends the activity's messages to its own broker queue, served by
  ``durable worker --queues partner-api``; workers serve every queue unless told.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from .engine import default_registry
from .engine.errors import InvalidInput, RegistrationError
from .engine.registry import RESERVED_QUEUES, check_activity_options, parse_rate
from .models import ActivityLimitState, ActivityTask
from .runtime.dispatch import start_activities, start_activity
from .statuses import TaskStatus

RATE_SLOTS = 20  # a rate limit's period is counted in this many slots
FIRST_WAKEUPS = 32  # at most this many wake-ups per activity for one episode's new tasks
FAN_OUT_WAKEUPS = 2  # at most this many wake-ups passed on by one start


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


# -- resolution (in memory) -----------------------------------------------------------------
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


def _current() -> _Table:
    global _table
    setting = getattr(settings, "DURABLE_ACTIVITY_LIMITS", None) or {}
    key = (default_registry.changes, id(setting))
    if _table.key != key:
        _table = _Table(key, _build(setting))
    return _table


def _forget(setting: str, **_: Any) -> None:
    global _table
    if setting == "DURABLE_ACTIVITY_LIMITS":
        _table = _Table((-1, -1), {})


setting_changed.connect(_forget)


def limits_for(name: str) -> Limits:
    """The limits of activity ``name`` (NO_LIMITS when it has none). No query."""
    return _current().limits.get(name, NO_LIMITS)


def limited_names() -> frozenset[str]:
    """Activities with a concurrency or rate limit."""
    return _current().limited


def configured() -> bool:
    """Is any activity limited or routed to its own queue? (False: nothing changes.)"""
    return bool(_current().limits)


# -- queues ---------------------------------------------------------------------------------
_served: frozenset[str] | None = None  # None: every queue


def serve_queues(selection: Iterable[str] | None = None) -> set[str]:
    """The broker queues this process's worker consumes; remembers the choice.

    ``selection`` holds "orchestrations", "default" (the hub's activity queue) and names
    given as ``queue=``; None means all of them.
    """
    from .runtime import actors

    global _served
    known = _current().queues
    if selection is None:
        chosen = {"orchestrations", "default", *known}
        _served = None
    else:
        chosen = {q.strip() for q in selection if q.strip()}
        unknown = sorted(chosen - RESERVED_QUEUES - known)
        if unknown or not chosen:
            raise InvalidInput(
                f"--queues {','.join(unknown) or '(empty)'}: no activity is routed there. "
                f"Choose from: {', '.join(sorted(RESERVED_QUEUES | known))}."
            )
        _served = frozenset(chosen)
    names = set()
    for queue in chosen:
        if queue == "orchestrations":
            names.add(actors.ORCHESTRATION_QUEUE)
        elif queue == "default":
            names.add(actors.ACTIVITY_QUEUE)
        else:
            names.add(actors.actor_for("activity", actors.HUB, queue).queue_name)
    return names


def runs_inline(name: str) -> bool:
    """May the thread whose episode scheduled this activity run it at once (no broker hop)?

    Not when it is limited (it waits its turn) or has its own queue (its pool runs it).
    """
    limits = limits_for(name)
    if limits.limited or limits.queue is not None:
        return False
    return _served is None or "default" in _served


# -- sending ----------------------------------------------------------------------------------
def start_tasks(tasks: Iterable[ActivityTask], hub: str) -> None:
    """Send an episode's new tasks after commit: one wake-up per free slot for limited ones;
    plain tasks of the default queue go in batches when there are many."""
    table = _current()
    plain: list[int] = []
    wakeups: dict[str, int] = {}
    for task in tasks:
        limits = table.limits.get(task.name, NO_LIMITS)
        if not limits.limited and limits.queue is None:
            plain.append(task.pk)
            continue
        if limits.limited:
            sent = wakeups.get(task.name, 0)
            if sent >= min(limits.max_concurrency or 1, FIRST_WAKEUPS):
                continue  # the rest wait; each start passes a wake-up on while room is left
            wakeups[task.name] = sent + 1
        start_activity(task.pk, hub, task.name)
    if plain:
        start_activities(plain, hub)


def has_slots(name: str) -> bool:
    """Does a finished task of ``name`` free a slot (max_concurrency) for the next one?"""
    return limits_for(name).max_concurrency is not None


def task_finished(task: ActivityTask) -> None:
    """In the commit recording a task's outcome, when the thread will not take the freed
    slot itself (it runs the next activity of its instance): wake the activity."""
    if has_slots(task.name):
        start_activity(task.pk, task.task_hub, task.name)


# -- starting -----------------------------------------------------------------------------
def rate_wait(
    recent: list[list[float]], rate: tuple[int, float], now: float
) -> tuple[float, list[list[float]]]:
    """Seconds until a start is allowed (0: now), and the slots still in the window.

    ``recent`` is ``[[slot start, starts], ...]``, slots being 1/RATE_SLOTS of the period. A
    slot counts while it overlaps the last period, so no period ever holds more than N.
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


def _lock_state(hub: str, name: str) -> ActivityLimitState:
    states = ActivityLimitState.objects.select_for_update()
    try:
        return states.get(task_hub=hub, activity=name)
    except ActivityLimitState.DoesNotExist:
        ActivityLimitState.objects.bulk_create(
            [ActivityLimitState(task_hub=hub, activity=name)], ignore_conflicts=True
        )
        return states.get(task_hub=hub, activity=name)


def acquire(hub: str, name: str) -> int | None:
    """Claim the next waiting task of limited activity ``name`` if a slot and the rate allow.

    Returns the pk of the claimed task (RUNNING under a lease, one more run), or None: all
    slots taken (a finishing task wakes the next), the rate is used up (a delayed wake-up
    is on its way), or nothing waits. Round robin over instances, oldest task first.
    """
    from .effects import worker_name

    limits = limits_for(name)
    if not limits.limited:
        return None
    lease = timedelta(seconds=float(settings.DURABLE_ACTIVITY_LEASE_SECONDS))
    tasks = ActivityTask.objects.filter(task_hub=hub, name=name)
    with transaction.atomic():
        state = _lock_state(hub, name)  # every start of this activity queues up here
        now = timezone.now()
        running = 0
        if limits.max_concurrency is not None:
            running = tasks.filter(status=TaskStatus.RUNNING, lease_expires_at__gt=now).count()
            if running >= limits.max_concurrency:
                return None
        waiting = tasks.filter(status=TaskStatus.SCHEDULED).order_by("instance_id", "pk")
        found = (
            waiting.filter(instance_id__gt=state.last_instance)
            .values_list("pk", "instance_id")
            .first()
            or waiting.values_list("pk", "instance_id").first()
        )
        if found is None:
            return None
        pk, instance_pk = found
        room = FAN_OUT_WAKEUPS
        if limits.max_concurrency is not None:
            room = min(room, limits.max_concurrency - running - 1)
        if limits.rate is not None:
            wait, window = rate_wait(state.recent_starts, limits.rate, now.timestamp())
            if wait > 0:
                _wake_later(state, hub, name, pk, now, wait)
                state.save(update_fields=["wake_at"])
                return None
            left = limits.rate[0] - count_start(window, limits.rate, now.timestamp())
            if left <= 0:  # this start used the rate up: come back when it allows the next
                wait = rate_wait(window, limits.rate, now.timestamp())[0]
                _wake_later(state, hub, name, pk, now, wait)
            state.recent_starts, room = window, min(room, left)
        claimed = ActivityTask.objects.filter(pk=pk, status=TaskStatus.SCHEDULED).update(
            status=TaskStatus.RUNNING,
            runs=F("runs") + 1,
            lease_expires_at=now + lease,
            worker=worker_name(),
            # Read after the count above: the slot it found free was released (committed)
            # before this time, so recorded run times never overlap more than the limit.
            started_at=timezone.now(),
        )
        if not claimed:
            return None  # taken outside the lock (a worker that does not know the limit)
        state.last_instance = instance_pk
        state.save(update_fields=["last_instance", "recent_starts", "wake_at", "updated_at"])
        for _ in range(room):  # room for more: pass wake-ups on (a tree, not a queue)
            start_activity(pk, hub, name)
    return pk


def _wake_later(
    state: ActivityLimitState, hub: str, name: str, pk: int, now: datetime, wait: float
) -> None:
    """Send a wake-up for when the rate allows a start again (unless one is on its way)."""
    due = now + timedelta(seconds=wait)
    if state.wake_at is not None and now < state.wake_at <= due:
        return
    state.wake_at = due
    start_activity(pk, hub, name, delay_ms=math.ceil(wait * 1000))


def acquire_task(task_pk: int, hub: str | None = None) -> int | None:
    """A plain message for a task of a limited activity: a wake-up of that activity."""
    row = ActivityTask.objects.filter(pk=task_pk).values_list("task_hub", "name").first()
    if row is None or row[1] not in limited_names() or (hub is not None and row[0] != hub):
        return None
    return acquire(*row)


# -- sweeper and reports ------------------------------------------------------------------
class LimitRow(NamedTuple):
    """One limited activity in the console and on /metrics."""

    activity: str
    max_concurrency: int | None
    running: int  # tasks holding a slot (running, lease live)
    rate_limit: str | None
    waiting: int  # scheduled tasks waiting for a slot or the rate
    oldest_wait_seconds: float  # 0 when none waits


def _open_counts(hub: str, names: Iterable[str], now: datetime) -> dict[str, dict[str, Any]]:
    rows = (
        ActivityTask.objects.filter(  # task_open_by_name_idx
            task_hub=hub,
            name__in=list(names),
            status__in=[TaskStatus.SCHEDULED, TaskStatus.RUNNING],
        )
        .values("name")
        .annotate(
            running=Count("pk", filter=Q(status=TaskStatus.RUNNING, lease_expires_at__gt=now)),
            waiting=Count("pk", filter=Q(status=TaskStatus.SCHEDULED)),
            oldest=Min("enqueued_at", filter=Q(status=TaskStatus.SCHEDULED)),
        )
        .order_by()
    )
    return {row["name"]: row for row in rows}


def limits_report(hub: str | None = None) -> list[LimitRow]:
    """Per limited activity of ``hub``: running vs limit, waiting tasks, the oldest wait.

    Example::

        for row in limits_report():
            print(f"{row.activity}: {row.running}/{row.max_concurrency} running, "
                  f"{row.waiting} waiting (oldest {row.oldest_wait_seconds:.0f} s)")
    """
    hub = hub or settings.DURABLE_TASK_HUB
    names = sorted(limited_names())
    if not names:
        return []
    now = timezone.now()
    counts = _open_counts(hub, names, now)
    report = []
    for name in names:
        limits, row = limits_for(name), counts.get(name, {})
        oldest = row.get("oldest")
        report.append(
            LimitRow(
                activity=name,
                max_concurrency=limits.max_concurrency,
                running=row.get("running", 0),
                rate_limit=limits.rate_limit,
                waiting=row.get("waiting", 0),
                oldest_wait_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            )
        )
    return report


def sweep(hub: str, now: datetime) -> int:
    """Wake limited activities with room and waiting tasks that started nothing lately.

    That is a lost wake-up (broker restart, a worker killed holding it). Returns how many
    activities were woken.
    """
    names = limited_names()
    if not names:
        return 0
    counts = _open_counts(hub, names, now)
    quiet = now - timedelta(seconds=float(getattr(settings, "DURABLE_REDELIVER_AFTER_SECONDS", 5)))
    waiting = [name for name, row in counts.items() if row["waiting"]]
    states = {
        s.activity: s for s in ActivityLimitState.objects.filter(task_hub=hub, activity__in=waiting)
    }
    woken = 0
    for name in waiting:
        limits, row, state = limits_for(name), counts[name], states.get(name)
        if limits.max_concurrency is not None and row["running"] >= limits.max_concurrency:
            continue  # full: finishing tasks (or lapsing leases) free the slots
        if state is not None:
            if state.updated_at > quiet:
                continue  # started lately: wake-ups are flowing
            if limits.rate and rate_wait(state.recent_starts, limits.rate, now.timestamp())[0]:
                continue  # the rate's delayed wake-up (or a later sweep) comes for it
        pk = (
            ActivityTask.objects.filter(task_hub=hub, name=name, status=TaskStatus.SCHEDULED)
            .values_list("pk", flat=True)
            .first()
        )
        if pk is not None:
            with transaction.atomic():
                start_activity(pk, hub, name)
            woken += 1
    return woken
