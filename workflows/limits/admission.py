"""Starting a limited activity's tasks: one at a time per slot, within its rate.

* **Slots** are the activity's RUNNING tasks with a live lease, counted while holding its
  ActivityLimitState row lock, so all workers agree, and a crashed worker's slot comes
  back by itself when its lease expires.
* **Rate**: starts are counted per 1/20 of the period on the same row (limits/rates.py).
* **Waiting is durable**: a task that cannot start stays SCHEDULED (no attempt, no retry).
  A limited activity's message is a wake-up for the *activity*: whoever gets one starts
  its next waiting task, round robin over instances, so a big fan-out does not starve
  other instances' calls. Wake-ups also come from new tasks, from a start that leaves
  room (passed on), after the time the rate needs (a delayed message) and from the
  sweeper (room left, nothing started lately: a lost message).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..conf import conf
from ..models import ActivityLimitState, ActivityTask
from ..runtime.dispatch import start_activities, start_activity
from ..runtime.leases import claim
from ..statuses import TaskStatus
from .config import NO_LIMITS, current, has_slots, limited_names, limits_for
from .rates import count_start, rate_wait
from .report import open_counts

FIRST_WAKEUPS = 32  # at most this many wake-ups per activity for one episode's new tasks
FAN_OUT_WAKEUPS = 2  # at most this many wake-ups passed on by one start


# -- sending ----------------------------------------------------------------------------------
def start_tasks(tasks: Iterable[ActivityTask], hub: str) -> None:
    """Send an episode's new tasks after commit: one wake-up per free slot for limited ones;
    plain tasks of the default queue go in batches when there are many."""
    table = current()
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


def task_finished(task: ActivityTask) -> None:
    """In the commit recording a task's outcome, when the thread will not take the freed
    slot itself (it runs the next activity of its instance): wake the activity."""
    if has_slots(task.name):
        start_activity(task.pk, task.task_hub, task.name)


# -- starting -----------------------------------------------------------------------------
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
    limits = limits_for(name)
    if not limits.limited:
        return None
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
        # Started after the count above: the slot it found free was released (committed)
        # before this time, so recorded run times never overlap more than the limit.
        waiting_task = ActivityTask.objects.filter(pk=pk, status=TaskStatus.SCHEDULED)
        claimed = claim(waiting_task, now, started_at=timezone.now())
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


# -- the sweeper --------------------------------------------------------------------------
def sweep(hub: str, now: datetime) -> int:
    """Wake limited activities with room and waiting tasks that started nothing lately.

    That is a lost wake-up (broker restart, a worker killed holding it). Returns how many
    activities were woken.
    """
    names = limited_names()
    if not names:
        return 0
    counts = open_counts(hub, names, now)
    quiet = now - timedelta(seconds=conf.REDELIVER_AFTER_SECONDS)
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
