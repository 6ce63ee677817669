"""Results of one instance that finish together share one episode (group commit).

A bounded fan-out (``ctx.bounded_fan_out``, a task_any loop) needs an episode per result:
each schedules the next item. With several worker threads finishing its activities at
once, one episode each would queue them on the instance row, one commit at a time. Here
the first thread to arrive *leads*: it records every result that has arrived for the
instance meanwhile and runs one episode with all of them, claiming one scheduled task per
result for the thread that brought it; the others wait (holding no lock) and go on with
the tasks claimed for them. Results arriving while the leader's transaction runs wait
for the next round, which one of them leads.

Nothing changes for durability: each round is one transaction (outcomes, history, new
tasks, instance row), as a single merged result's is; if it fails, each waiting thread
records its own result the ordinary way. See docs/architecture.md, "One episode, step
by step".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction

from ..engine.activity import ActivityOutcome
from ..engine.registry import Registry
from ..episodes import Episode, episode_locked, lock_instance
from ..models import ActivityTask
from . import outcomes
from .dispatch import wake_orchestration
from .leases import worker_name

Results = list[tuple[ActivityTask, ActivityOutcome]]
# Records results alone, the ordinary way: (how many recorded, tasks claimed for this thread).
Fallback = Callable[[Results], tuple[int, list[ActivityTask]]]


@dataclass
class _Arrival:
    """One thread's finished tasks (one, or a batch's), waiting for a round to record them."""

    results: Results
    worker: str
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # this thread leads the next round
    failed: bool = False  # the round failed: record them the ordinary way
    recorded: int = 0
    claimed: list[ActivityTask] = field(default_factory=list)


log = logging.getLogger("workflows.runtime")

_lock = threading.Lock()
_waiting: dict[int, list[_Arrival]] = {}  # instance pk -> arrivals not yet in a round
_leading: set[int] = set()  # instance pks with a round running


def finish_together(
    results: Results, registry: Registry, fallback: Fallback
) -> tuple[int, list[ActivityTask]]:
    """Record ``results`` (of one instance) in a round with its other results that arrive
    meanwhile; returns (how many recorded, the tasks claimed for this thread to run next:
    as many as it brought results, so a batch's thread goes on with a batch).

    ``fallback`` records them alone if the round they were in failed.
    """
    me = _Arrival(results, worker_name())
    pk = results[0][0].instance_id
    with _lock:
        _waiting.setdefault(pk, []).append(me)
        me.lead = pk not in _leading
        if me.lead:
            _leading.add(pk)
    if not me.lead:
        me.done.wait()
    if me.lead:
        _lead(pk, registry)
    if me.failed:
        return fallback(results)
    return me.recorded, me.claimed


def _lead(pk: int, registry: Registry) -> None:
    """Run one round: every arrival so far in one transaction; hand leadership on."""
    with _lock:
        arrivals = _waiting.pop(pk, [])
    episode = None
    try:
        episode = _round(pk, arrivals, registry)
    except DatabaseError:
        # Rolled back (a deadlock with a statement locking task rows in another order, a
        # lost connection): every thread of the round records its results alone.
        log.info("combined round of instance %s failed; recording alone", pk, exc_info=True)
        for arrival in arrivals:
            arrival.failed = True
    except BaseException:
        for arrival in arrivals:
            arrival.failed = True
        raise
    finally:
        with _lock:
            following = _waiting.get(pk)
            if following:
                following[0].lead = True  # the next round's leader
                following[0].done.set()
            else:
                _leading.discard(pk)
        for arrival in arrivals:
            arrival.done.set()
    if episode is not None:
        episode.committed()


def _round(pk: int, arrivals: list[_Arrival], registry: Registry) -> Episode | None:
    """Record the arrivals' outcomes and apply them in one episode, in one transaction."""
    first = arrivals[0].results[0][0]
    with transaction.atomic():
        instance = lock_instance(pk)  # the instance row first, as every episode takes it
        recorded = outcomes.record([r for a in arrivals for r in a.results])
        ours = {task.pk for task, _outcome in recorded}
        applied = []
        for arrival in arrivals:
            arrival.recorded = sum(1 for task, _outcome in arrival.results if task.pk in ours)
            if arrival.recorded:
                applied.append(arrival)
        if not recorded:
            return None
        moved_on = any(task.execution_id != first.execution_id for task, _outcome in recorded)
        if instance is None or instance.execution_id != first.execution_id or moved_on:
            outcomes.to_inbox(recorded)  # continued as new meanwhile: the inbox sorts it
            wake_orchestration(pk, first.task_hub)
            return None
        merged = tuple(outcomes.outcome_event(task, outcome) for task, outcome in recorded)
        claimants = [a for a in applied for _ in range(a.recorded)]
        episode = episode_locked(instance, registry, merged, claim=[a.worker for a in claimants])
    for arrival, claimed in zip(claimants, episode.claimed_all, strict=False):
        arrival.claimed.append(claimed)
    return episode
