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
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ..compiled import StatementBatch
from ..engine.activity import ActivityOutcome
from ..engine.registry import Registry
from ..episodes import Episode, episode_locked, lock_instance
from ..limits.config import runs_inline
from ..models import ActivityTask, Instance
from ..statuses import InstanceStatus, TaskStatus
from . import outcomes
from .cache import sticky_cache
from .dispatch import batch_size, wake_orchestration
from .leases import claim, worker_name

Results = list[tuple[ActivityTask, ActivityOutcome]]
# Records results alone, the ordinary way: (how many recorded, tasks claimed for this thread).
Fallback = Callable[[Results], tuple[int, list[ActivityTask]]]


@dataclass
class _Arrival:
    """One thread's finished tasks (one, or a batch's), waiting for a round to record them."""

    results: Results
    worker: str
    chain: bool = False  # a chain's thread: may take waiting tasks along (a group)
    thread: int = field(default_factory=threading.get_ident)
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # this thread leads the next round
    failed: bool = False  # the round failed: record them the ordinary way
    recorded: int = 0
    claimed: list[ActivityTask] = field(default_factory=list)


log = logging.getLogger("workflows.runtime")

_lock = threading.Lock()
_arrived = threading.Condition(_lock)  # notified at each arrival (a gathering leader waits)
_waiting: dict[int, list[_Arrival]] = {}  # instance pk -> arrivals not yet in a round
_leading: set[int] = set()  # instance pks with a round running
# instance pk -> {thread ident: when a round handed it a task of that instance}: threads
# expected back with a result soon. A round waits a moment for them (gathering), so it
# carries every thread's result instead of alternating between one and the rest.
_owing: dict[int, dict[int, float]] = {}

# A leader waits for owing threads at most twice as long as its own task took since it
# was handed (they run tasks alike), within these bounds: a slow task costs a round at
# most GATHER_MAX_SECONDS more, a thread that never comes back (a give-back) the same.
GATHER_MIN_SECONDS = 0.002
GATHER_MAX_SECONDS = 0.02
# Only results of attempts quicker than this take waiting tasks along (_takes_backlog),
# a chain's thread up to its share of the open tasks (open / GROUP_SHARES), GROUP_MAX.
BACKLOG_MAX_SECONDS = 0.01
GROUP_SHARES = 4  # the default worker threads
# Groups stop above 64 open (then tasks go in batches: dispatch.batch_size), so by default
# a quarter is at most 16 and the four threads hold a fan-out of 64 whole; at 8, half of it
# went by messages to another worker process and back through the inbox. The cap binds only
# where DURABLE_ACTIVITY_BATCH_SIZE=1 turns batching off.
GROUP_MAX = 16


def finish_together(
    results: Results, registry: Registry, fallback: Fallback, chain: bool = False
) -> tuple[int, list[ActivityTask]]:
    """Record ``results`` (of one instance) in a round with its other results that arrive
    meanwhile; returns (how many recorded, the tasks claimed for this thread to run next:
    as many as it brought results, so a batch's thread goes on with a batch; a ``chain``'s
    thread of quick activities also its share of the tasks still waiting for messages).

    ``fallback`` records them alone if the round they were in failed.
    """
    me = _Arrival(results, worker_name(), chain)
    pk = results[0][0].instance_id
    thread = threading.get_ident()
    with _lock:
        handed = _owing.get(pk, {}).pop(thread, None)
        _waiting.setdefault(pk, []).append(me)
        me.lead = pk not in _leading
        if me.lead:
            _leading.add(pk)
        _arrived.notify_all()
    if not me.lead:
        me.done.wait()
    if me.lead:
        _gather(pk, handed)
        _lead(pk, registry)
    if me.failed:
        return fallback(results)
    return me.recorded, me.claimed


def _gather(pk: int, handed: float | None) -> None:
    """Wait (holding no lock) for the threads a round handed tasks of ``pk`` to come back
    with their results, briefly: the next round then carries them all."""
    now = time.monotonic()
    took = now - handed if handed is not None else 0.0
    deadline = now + min(GATHER_MAX_SECONDS, max(GATHER_MIN_SECONDS, 2 * took))
    live = {thread.ident for thread in threading.enumerate()}
    with _lock:
        owing = _owing.get(pk, {})
        for gone in [thread for thread in owing if thread not in live]:
            del owing[gone]  # a thread that ended owes nothing
        while _owing.get(pk):
            left = deadline - time.monotonic()
            if left <= 0:
                _owing.pop(pk, None)  # late ones join a later round, ungathered
                break
            _arrived.wait(left)


def _forget_stale(now: float) -> None:
    """Drop what threads that never came back (their task went elsewhere: given back, to
    the event loop) left owing; under ``_lock``."""
    for pk in [pk for pk, owing in _owing.items() if max(owing.values(), default=0) < now - 1]:
        del _owing[pk]


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
            now = time.monotonic()
            handed = {a.thread: now for a in arrivals if a.claimed}
            if handed:
                _owing.setdefault(pk, {}).update(handed)
            _forget_stale(now)
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
    """Record the arrivals' outcomes and apply them in one episode, in one transaction:
    on PostgreSQL the lock and the outcomes in one round trip, a chain thread's tasks from
    the backlog in another when it takes some, the episode's tail with the COMMIT in the
    last (tests/runtime/test_step_cost.py counts them)."""
    first = arrivals[0].results[0][0]
    with (block := transaction.atomic()):
        batch = StatementBatch()
        recorded_of = outcomes.record_in(batch, [r for a in arrivals for r in a.results])
        # The instance row first, as every episode takes it; the outcomes in its round trip.
        instance = lock_instance(pk, then=batch)
        recorded = recorded_of()
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
        # The backlog before the episode, so that the episode's tail is the transaction's
        # last round trip and carries the COMMIT. Each result brings one new task to its
        # thread (the item that replaces it), the backlog the rest of its group.
        hold = _group_size(instance)
        wants = []
        for arrival in applied:
            if hold and _takes_backlog(arrival):
                wants.extend([arrival] * (hold - arrival.recorded))
        names = {task.name for task, _outcome in recorded}
        backlog = _claim_backlog(instance, names, wants) if wants else []
        merged = tuple(outcomes.outcome_event(task, outcome) for task, outcome in recorded)
        # A group the backlog could not fill takes the episode's further new tasks too:
        # those of results the episode applies from the inbox (another process ran them).
        # Unclaimed, each went by a message to that process again, round after round.
        spare = list(wants)
        for arrival, _task in backlog:
            spare.remove(arrival)
        claimants = [a for a in applied for _ in range(a.recorded)] + spare
        episode = episode_locked(
            instance, registry, merged, claim=[a.worker for a in claimants], commit=block
        )
    assigned = list(zip(claimants, episode.claimed_all, strict=False))
    if instance.status != InstanceStatus.RUNNING or instance.execution_id != first.execution_id:
        # The episode ended the instance, or continued it as new, and cancelled its open
        # tasks: those taken from the backlog among them. Nobody runs them.
        backlog = []
    for arrival, claimed in [*assigned, *backlog]:
        arrival.claimed.append(claimed)
    return episode


def _takes_backlog(arrival: _Arrival) -> bool:
    """A chain's thread whose activities ran quickly goes on with tasks still waiting for
    their messages; a batch's thread goes back to its messages, and a slow activity's
    tasks stay spread over the threads that take their messages (a slow batch's
    given-back tasks among them)."""
    return arrival.chain and all(quick_attempt(task) for task, _outcome in arrival.results)


def quick_attempt(task: ActivityTask) -> bool:
    """Whether the task's attempt (``attempt`` notes ``attempt_seconds``) ran under
    BACKLOG_MAX_SECONDS: its instance's rounds come often."""
    took = getattr(task, "attempt_seconds", None)
    return took is not None and took < BACKLOG_MAX_SECONDS


def _group_size(instance: Instance) -> int:
    """How many tasks a chain's thread may hold after a round (0: none from the backlog):
    its share of the instance's open tasks when each has a message of its own (a bounded
    fan-out's), at most GROUP_MAX. A wide fan-out's tasks went in batches: their threads
    take them a batch at a time."""
    if instance.status != InstanceStatus.RUNNING:
        return 0
    if not connection.features.has_select_for_update_skip_locked:
        # SQLite: one writer at a time. A thread running groups round after round kept
        # the write lock busy enough that the other threads' claims starved (a bounded
        # fan-out of 16 ran on one thread at a quarter of its rate): no groups there.
        return 0
    open_tasks = sticky_cache().activities_in_flight(instance.pk)
    # The episode that scheduled them ran one itself and sent the others (open - 1).
    if open_tasks is None or batch_size(open_tasks - 1) != 1:
        return 0
    return max(1, min(GROUP_MAX, open_tasks // GROUP_SHARES))


def _claim_backlog(
    instance: Instance, names: set[str], wants: list[_Arrival]
) -> list[tuple[_Arrival, ActivityTask]]:
    """Claim the instance's oldest scheduled tasks (of ``names``): one for each entry of
    ``wants``, for that arrival's thread to run next (its first items still wait in the
    broker: the thread takes them along instead of a message, a claim and a round each;
    their messages then find them claimed and do nothing)."""
    inline = [name for name in names if runs_inline(name)]
    if not inline:
        return []
    pks = list(
        ActivityTask.objects.filter(
            instance_id=instance.pk,
            execution_id=instance.execution_id,
            status=TaskStatus.SCHEDULED,
            name__in=inline,
        )
        .select_for_update(skip_locked=True)
        .order_by("pk")
        .values_list("pk", flat=True)[: len(wants)]
    )
    if not pks:
        return []
    now, per_worker = timezone.now(), defaultdict(list)
    for pk, arrival in zip(pks, wants, strict=False):
        per_worker[arrival.worker].append(pk)
    for worker, mine in per_worker.items():  # locked above: each UPDATE takes them all
        claim(ActivityTask.objects.filter(pk__in=mine), now, worker=worker)
    tasks = {task.pk: task for task in ActivityTask.objects.filter(pk__in=pks)}
    for task in tasks.values():
        task.instance = instance  # locked by this round: running, this execution
    return [(arrival, tasks[pk]) for pk, arrival in zip(pks, wants, strict=False)]
