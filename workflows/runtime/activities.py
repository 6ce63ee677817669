"""Running one activity task: claim with a lease, run outside any transaction, record."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future

from django.db import DatabaseError, transaction
from django.utils import timezone

from ..compiled import StatementBatch, update_in_pk_order
from ..conf import conf
from ..counters import observe_activity, observe_payload_rejected
from ..engine import ActivityContext, FailureDetails, PayloadTooLarge, default_registry
from ..engine.activity import ActivityOutcome, is_async, run_activity, run_activity_async
from ..engine.errors import ActivityCancelled
from ..engine.heartbeat import Beat, Heartbeats, HeartbeatWriter
from ..engine.payloads import check_size
from ..engine.registry import Registry
from ..engine.timeouts import START_TO_CLOSE, ActivityTimeouts, timed_out
from ..episodes import driven_elsewhere, episode_locked, lock_instance
from ..limits.admission import acquire, acquire_task, task_finished
from ..limits.config import has_slots, limited_names
from ..logging import log_context
from ..models import ActivityTask
from ..payloads.redaction import failure_for_log
from ..statuses import TERMINAL, TaskStatus
from ..tracing import prefetch, traced_async_attempt, traced_attempt
from . import outcomes, shutdown
from .cache import sticky_cache
from .dispatch import wake_orchestration
from .eventloop import ActivityLoop, activity_loop
from .leases import claim, worker_name
from .merge import finish_together, quick_attempt
from .renewal import give_back

log = logging.getLogger("workflows.runtime")

# A result merges with its instance's next episode while at most this many of the
# instance's activities are open; beyond, results are applied in batches.
MERGE_MAX_IN_FLIGHT = 8
# In a group, an attempt this slow gives the tasks not started back (runtime/batches.py's
# SLOW_SECONDS).
GROUP_SLOW_SECONDS = 0.01
# A fan-out's result left in the inbox for the process whose rounds run the instance
# (episodes.driven_elsewhere): they apply it within a few ms; this wake-up, later, applies
# it if they stopped (the fan-out's last results), and finds nothing to do otherwise.
LEFT_FOR_OWNER_WAKE_MS = 50


def claim_task(task_pk: int, hub: str | None = None) -> ActivityTask | None:
    """Mark the task running under a lease; None if it is not ours (or not ``hub``'s) to run.

    One conditional UPDATE decides it: of two workers racing for a task (a duplicate
    delivery), only one matches; a live lease keeps everyone else off.
    """
    return next(iter(claim_tasks([task_pk], hub)), None)


def claim_tasks(task_pks: list[int], hub: str | None = None) -> list[ActivityTask]:
    """Claim those of ``task_pks`` still to run for this thread, in one UPDATE (a batch
    message's tasks, or one); returns them in pk order.

    Finished, cancelled, leased by another worker or another hub's: left alone. Tasks
    whose instance ended or moved on meanwhile are cancelled instead.
    """
    now, me = timezone.now(), worker_name()
    candidates = ActivityTask.objects.claimable(now).filter(pk__in=task_pks)
    if hub is not None:
        candidates = candidates.filter(task_hub=hub)
    limited = limited_names()
    if limited:  # those start only through workflows/limits/ (same query, no extra one)
        candidates = candidates.exclude(name__in=limited)
    if not claim(candidates, now):
        return []
    # This thread's claim is the one with its name and this very start time.
    claimed = ActivityTask.objects.select_related("instance").filter(
        pk__in=task_pks, status=TaskStatus.RUNNING, worker=me, started_at=now
    )
    return _keep_wanted(list(claimed.order_by("pk")))


def claim_limited(
    task_pk: int, hub: str | None = None, activity: str | None = None
) -> ActivityTask | None:
    """A limited activity's wake-up: claim its next waiting task if a slot and the rate allow.

    That may be another task than ``task_pk`` (round robin over instances); None when the
    activity is full or rate-limited (the task waits, still scheduled) or nothing waits.
    """
    while True:
        if activity is not None:
            pk = acquire(hub or conf.TASK_HUB, activity)
        else:
            pk = acquire_task(task_pk, hub)
        if pk is None:
            return None
        task = _still_wanted(pk)
        if task is not None:
            return task


def _still_wanted(task_pk: int) -> ActivityTask | None:
    """The claimed task, or None (cancelled now) if its instance ended or moved on."""
    task = ActivityTask.objects.select_related("instance").get(pk=task_pk)
    return next(iter(_keep_wanted([task])), None)


def _keep_wanted(tasks: list[ActivityTask]) -> list[ActivityTask]:
    """The claimed tasks whose instance still waits for them; the others are cancelled."""
    unwanted = [
        task.pk
        for task in tasks
        if task.instance.status in TERMINAL or task.instance.execution_id != task.execution_id
    ]
    if unwanted:
        update_in_pk_order(
            ActivityTask.objects.filter(pk__in=unwanted),
            status=TaskStatus.CANCELLED,
            lease_expires_at=None,
        )
    return [task for task in tasks if task.pk not in unwanted]


def execute_task(
    task_pk: int,
    registry: Registry | None = None,
    hub: str | None = None,
    activity: str | None = None,
) -> bool:
    """Run one activity attempt at least once; returns True if this call recorded it.

    When the same thread can take the instance lock, the result and the next episode
    share one commit, and the next activity that episode schedules runs right here
    (no broker hop): a sequential step costs about one commit.

    ``activity`` marks a limited activity's wake-up: the task run is its next in turn.
    """
    if activity is not None and activity in limited_names():
        task = claim_limited(task_pk, hub, activity)
    else:
        task = claim_task(task_pk, hub)
        if task is None and limited_names():
            task = claim_limited(task_pk, hub)  # a plain message for a limited task
    return run_chain(task, registry)


def run_chain(task: ActivityTask | None, registry: Registry | None = None) -> bool:
    """Run a claimed task, then each next one its instance's episode claims for this
    thread (a chain runs without broker hops); True if any outcome was recorded here.

    The first task runs whatever happens (its message was taken and it is claimed: the
    shutdown's grace covers it); while the process shuts down, each next one is given
    back instead of started.
    """
    recorded = False
    first = True
    while task is not None:
        group = task.__dict__.pop("group", None) or []
        if not first and shutdown.stopping():
            give_back([task.pk, *(t.pk for t in group)])
            break
        if group:
            done, task = run_group([task, *group], registry or default_registry)
        else:
            done, task = run_claimed(task, registry)
        recorded, first = recorded or done, False
    return recorded


def run_group(tasks: list[ActivityTask], registry: Registry) -> tuple[bool, ActivityTask | None]:
    """Run a group of one instance's tasks a round claimed for this thread (quick ones, a
    bounded fan-out's: runtime/merge.py) one after another and record them together;
    returns (recorded, next task). After a slow attempt the rest is given back (one
    message each), so slow activities still spread over every worker thread."""
    tasks = start_async_tasks(tasks, registry)
    results = []
    for position, task in enumerate(tasks):
        results.append((task, attempt(task, registry)))
        rest = tasks[position + 1 :]
        if rest and (task.attempt_seconds >= GROUP_SLOW_SECONDS or shutdown.stopping()):
            give_back(t.pk for t in rest)
            break
    if not results:
        return False, None
    return finish_group(results, registry)


def run_claimed(
    task: ActivityTask, registry: Registry | None = None
) -> tuple[bool, ActivityTask | None]:
    """Run a task this thread has claimed; returns (recorded, next claimed task).

    An ``async def`` activity goes to the process's event loop (:func:`run_async`) and
    this returns at once: (False, None); a record thread records its outcome.
    """
    registry = registry or default_registry
    if is_async(registry, task.name):
        run_async(task, registry)
        return False, None
    outcome = attempt(task, registry)
    return settle(task, outcome, registry)


def settle(
    task: ActivityTask, outcome: ActivityOutcome, registry: Registry
) -> tuple[bool, ActivityTask | None]:
    """Record an attempt's outcome (with the next episode when it can); returns
    (recorded, the task that episode or a freed limit slot claimed for this thread)."""
    recorded, claimed = finish_task(task, outcome, registry)
    if recorded and claimed is None and has_slots(task.name):
        # Hand the freed slot on from this thread (round robin): no broker hop, no gap.
        claimed = claim_limited(task.pk, task.task_hub, task.name)
    return recorded, claimed


def context_of(task: ActivityTask, heartbeats: Heartbeats) -> ActivityContext:
    """The ``ctx`` of one run of a claimed task."""
    return ActivityContext(
        instance_id=task.instance.instance_id,
        name=task.name,
        attempt=task.attempt,
        idempotency_key=task.idempotency_key,
        task_id=task.task_id,
        execution_id=task.execution_id,
        last_heartbeat=task.heartbeat_details,
        heartbeats=heartbeats,
    )


@traced_attempt
def attempt(task: ActivityTask, registry: Registry) -> ActivityOutcome:
    """Run one attempt of a claimed task, outside any transaction; observed and logged."""
    ctx = context_of(task, heartbeats_of(task))
    started = time.perf_counter()
    outcome = limit_result(task.name, run_activity(registry, ctx, task.input))
    # How long it ran: a quick one's thread may take a waiting task along (runtime/merge.py).
    task.attempt_seconds = time.perf_counter() - started
    observed(task, outcome, task.attempt_seconds)
    return outcome


def observed(task: ActivityTask, outcome: ActivityOutcome, elapsed: float) -> None:
    """Count and log one finished attempt."""
    observe_activity(task.name, task.attempt, task.runs, outcome.ok, elapsed)
    if log.isEnabledFor(logging.INFO):  # building the context costs more than the step
        log.info(
            "activity %s %s of %s in %.1f ms",
            task.name,
            "completed" if outcome.ok else f"failed ({failure_for_log(outcome.failure)})",
            task.instance.instance_id,
            elapsed * 1000,
            extra=log_context(task.instance, activity=task.name, task_id=task.task_id),
        )


def heartbeats_of(task: ActivityTask, writer: HeartbeatWriter | None = None) -> Heartbeats:
    """``ctx.heartbeat()`` of a claimed task: throttled (DURABLE_HEARTBEAT_INTERVAL_SECONDS,
    or a third of its heartbeat_timeout when shorter), size-limited, written durably."""
    interval = conf.HEARTBEAT_INTERVAL_SECONDS
    if task.heartbeat_timeout is not None:
        interval = min(interval, task.heartbeat_timeout.total_seconds() / 3)
    limit, setting = conf.HEARTBEAT_MAX_BYTES, "DURABLE_HEARTBEAT_MAX_BYTES"
    if limit > conf.MAX_PAYLOAD_BYTES:
        limit, setting = conf.MAX_PAYLOAD_BYTES, "DURABLE_MAX_PAYLOAD_BYTES"
    return Heartbeats(
        writer or heartbeat_writer(task),
        interval=interval,
        clock=time.monotonic,
        max_bytes=limit,
        limit_setting=setting,
    )


def heartbeat_writer(task: ActivityTask) -> HeartbeatWriter:
    """The durable write of one heartbeat of ``task``: one UPDATE of its row (the time and,
    when given, the details), only while it is RUNNING for this run (``runs`` counts
    claims: a run whose lease lapsed and was taken over writes nothing).

    Returns whether it still is: False tells the activity it was cancelled (terminate,
    continue-as-new), timed out or taken over; None when the write failed (kept for the
    next beat; the activity is not stopped by a database hiccup).
    """

    def write(beat: Beat) -> bool | None:
        fields = {"heartbeat_at": timezone.now()}
        if beat.has_details:
            fields["heartbeat_details"] = beat.details
        try:
            return bool(
                ActivityTask.objects.filter(
                    pk=task.pk, status=TaskStatus.RUNNING, runs=task.runs
                ).update(**fields)
            )
        except DatabaseError:
            log.warning("could not record a heartbeat of task %s", task.pk, exc_info=True)
            return None

    return write


# -- async def activities: on the process's event loop (runtime/eventloop.py) -------------
# docs/architecture.md, "Async activities".
def run_async(task: ActivityTask, registry: Registry, wait: bool = True) -> bool:
    """Hand a claimed task of an ``async def`` activity to the event loop; True if it
    was, else it is given back (unstarted) to the broker.

    ``wait`` (a worker thread's own claim): until the loop has room, or the process
    stops (ActivityLoop.submit). Without (a record thread going on with an episode's
    next task, a batch's tasks): only if it has room now (ActivityLoop.try_submit), so
    nothing claimed waits for a slot while its start_to_close runs.

    The task stays claimed by this thread's name (the lease keeper renews it); a record
    thread records the outcome through :func:`settle` and goes on with the task the next
    episode claims: on the loop again if async, else given back to the broker (record
    threads run no blocking activity code). If recording fails, :func:`release` gives the
    task back (this process's lease keeper would otherwise keep it claimed).
    """
    taken = _hand_over(task, registry, wait)
    if not taken:
        give_back([task.pk])
    return taken


def start_async_tasks(tasks: list[ActivityTask], registry: Registry) -> list[ActivityTask]:
    """Hand the async ones of claimed ``tasks`` to the event loop while it has room, give
    the rest back unstarted (other threads and workers take them); returns the plain ones.
    """
    plain: list[ActivityTask] = []
    refused: list[int] = []
    for task in tasks:
        if not is_async(registry, task.name):
            plain.append(task)
        elif refused or not _hand_over(task, registry, wait=False):
            refused.append(task.pk)
    if refused:
        give_back(refused)
    return plain


def _hand_over(task: ActivityTask, registry: Registry, wait: bool) -> bool:
    prefetch(task)  # its trace context, looked up here rather than on the loop
    loop = activity_loop()
    beats = BackgroundBeats(task, loop)
    return (loop.submit if wait else loop.try_submit)(
        lambda: _attempt_async(task, registry, beats),
        lambda outcome: _record_async(task, outcome, registry, beats),
        lambda: release(task),
    )


@traced_async_attempt
async def _attempt_async(
    task: ActivityTask, registry: Registry, beats: BackgroundBeats
) -> ActivityOutcome:
    """One attempt on the loop, under the task's start_to_close (``asyncio.wait_for``)."""
    ctx = context_of(task, heartbeats_of(task, beats.write))
    limit = task.start_to_close.total_seconds() if task.start_to_close is not None else None
    started = time.perf_counter()
    running = asyncio.ensure_future(run_activity_async(registry, ctx, task.input))
    beats.target = running  # a write that finds the task unwanted cancels it
    try:
        outcome = await asyncio.wait_for(running, limit)
    except TimeoutError:
        ctx.heartbeats.flush()
        timeouts = ActivityTimeouts(start_to_close=limit)
        outcome = ActivityOutcome(False, failure=timed_out(task.name, START_TO_CLOSE, timeouts))
    except asyncio.CancelledError:
        if not beats.unwanted:
            raise  # the process stops: no outcome, the lease is released
        exc = ActivityCancelled("The activity was cancelled: its result is not wanted.")
        outcome = ActivityOutcome(False, failure=FailureDetails.from_exception(exc))
    observed(task, outcome, time.perf_counter() - started)
    return outcome


# An outcome the database refused is tried again this many times, 1 s apart, before the
# task is given back (a database restart takes seconds; the lease covers a worker crash).
RECORD_TRIES = 30


def _record_async(
    task: ActivityTask, outcome: ActivityOutcome, registry: Registry, beats: BackgroundBeats
) -> None:
    """On a record thread: record an async attempt's outcome and go on with the next task.

    Any other error than the database's propagates: the loop calls :func:`release`.
    """
    beats.wait()  # a failed attempt's last details are written before its outcome
    outcome = limit_result(task.name, outcome)
    for tries in range(1, RECORD_TRIES + 1):
        try:
            _recorded, claimed = settle(task, outcome, registry)
            break
        except DatabaseError:
            if tries == RECORD_TRIES or shutdown.stopping():
                log.warning("could not record task %s; giving it back", task.pk, exc_info=True)
                release(task)
                return
            time.sleep(1.0)
    if claimed is not None:
        _go_on(claimed, registry)


def _go_on(claimed: ActivityTask, registry: Registry) -> None:
    """The task an episode claimed for this record thread: to the loop if async and it
    has room (this attempt's slot), else back to the broker (a plain one runs on a worker
    thread)."""
    try:
        if is_async(registry, claimed.name):
            run_async(claimed, registry, wait=False)
        else:
            give_back([claimed.pk])
    except Exception:  # noqa: BLE001 - it must not stay claimed by this thread
        log.exception("could not hand task %s on", claimed.pk)
        release(claimed)


def release(task: ActivityTask) -> None:
    """Give back a claimed async task whose outcome could not be recorded (or handed on):
    scheduled again now, its runs unchanged.

    Never left to its lease: the lease keeper renews every task held under a name of this
    process's threads, and the claiming thread's stays one. If the database refuses that
    too, the lease is expired by pk and holder (and the holder cleared, so the keeper
    leaves it alone): the sweeper runs it again.
    """
    try:
        give_back([task.pk], this_thread=False, ran=True)
        return
    except Exception:  # noqa: BLE001 - try the smaller write
        log.warning("could not give task %s back; expiring its lease", task.pk, exc_info=True)
    try:
        ActivityTask.objects.filter(
            pk=task.pk, status=TaskStatus.RUNNING, worker=task.worker
        ).update(lease_expires_at=timezone.now(), worker="")
    except Exception:  # noqa: BLE001 - nothing more to try
        log.exception("could not expire the lease of task %s", task.pk)


class BackgroundBeats:
    """The heartbeat write of an async attempt, off the loop: ``ctx.heartbeat()`` never
    blocks. Each write runs on a record thread (in order, one after the other) and the
    beat returns what the writes done so far found; one finding the task unwanted
    (cancelled, timed out, taken over) also cancels the running coroutine at its next
    ``await``, and the beat after it raises ActivityCancelled."""

    def __init__(self, task: ActivityTask, loop: ActivityLoop) -> None:
        self._write = heartbeat_writer(task)
        self._loop = loop
        self._last: Future[bool | None] | None = None
        self.unwanted = False
        self.target: asyncio.Future[ActivityOutcome] | None = None

    def write(self, beat: Beat) -> bool:
        previous = self._last

        def job() -> bool | None:
            if previous is not None:
                previous.result()
            running = self._write(beat)
            if running is False and not self.unwanted:
                self.unwanted = True
                if self.target is not None:
                    self._loop.cancel_soon(self.target)
            return running

        self._last = self._loop.off_loop(job)
        return not self.unwanted

    def wait(self) -> None:
        """Until the writes started so far are done (called off the loop)."""
        if self._last is not None:
            self._last.result()


def finish_task(
    task: ActivityTask, outcome: ActivityOutcome, registry: Registry
) -> tuple[bool, ActivityTask | None]:
    """Record the outcome; run the instance's next episode in the same commit if we can.

    While the instance waits for several activities (a fan-out), results that finish
    together in this process share one episode (runtime/merge.py).
    """
    recorded, claimed = finish_group([(task, outcome)], registry)
    return recorded, claimed


def finish_group(
    results: list[tuple[ActivityTask, ActivityOutcome]], registry: Registry
) -> tuple[bool, ActivityTask | None]:
    """Record a chain's outcomes (one, or a group's, of one instance); returns (recorded,
    the next task: with its ``group`` when the round gave this thread several)."""
    if may_finish_together([task for task, _outcome in results]):
        done, claimed = finish_together(results, registry, _alone(registry), chain=True)
    else:
        done, claimed = _alone(registry)(results)
    if not claimed:
        return bool(done), None
    claimed[0].group = claimed[1:]
    return bool(done), claimed[0]


def _alone(registry: Registry) -> Callable[[list], tuple[int, list[ActivityTask]]]:
    def alone(results: list) -> tuple[int, list[ActivityTask]]:
        recorded, claimed = 0, []
        for task, outcome in results:
            done, next_task = _finish_alone(task, outcome, registry)
            recorded += done
            if next_task is not None:
                claimed.append(next_task)
        return recorded, claimed

    return alone


def may_finish_together(tasks: list[ActivityTask]) -> bool:
    """Results of one instance that waits for several activities (a fan-out, known from
    this process's cache), none limited: they may share episodes (runtime/merge.py)."""
    pk = tasks[0].instance_id
    open_tasks = sticky_cache().activities_in_flight(pk)
    if open_tasks is None or open_tasks < 2 or any(t.instance_id != pk for t in tasks):
        return False
    limited = limited_names()
    return not (limited and any(t.name in limited for t in tasks))


def _finish_alone(
    task: ActivityTask, outcome: ActivityOutcome, registry: Registry
) -> tuple[bool, ActivityTask | None]:
    with (block := transaction.atomic()):
        # A few open tasks (a chain, a narrow bounded fan-out): the episode schedules the
        # next one, so waiting a moment for the instance row beats a wake-up through the
        # broker. More (a wide or bounded fan-out), or not known here: merge when the row
        # is free, else the inbox (the episode holding the row, or the wake-up's, applies
        # it with others): a thread never queues behind a busy fan-in. The row is locked
        # before the task row, in the order every episode takes them.
        open_tasks = sticky_cache().activities_in_flight(task.instance_id)
        wait = open_tasks is not None and open_tasks <= MERGE_MAX_IN_FLIGHT
        batch = StatementBatch()
        recorded_of = outcomes.record_in(batch, [(task, outcome)])  # sent after the lock, with it
        instance = lock_instance(task.instance_id, wait=wait, then=batch)
        recorded = recorded_of()
        if not recorded:
            return False, None
        if open_tasks is None and quick_attempt(task) and instance and driven_elsewhere(instance):
            # Another process's rounds run this fan-out of quick activities: they apply the
            # result from the inbox (the wake-up, later, only if they have stopped). Slower
            # ones (20 ms) ran ~40% slower so: this thread waited for the owner's rounds.
            outcomes.to_inbox(recorded)
            wake_orchestration(task.instance_id, task.task_hub, delay_ms=LEFT_FOR_OWNER_WAKE_MS)
            return True, None
        if instance is None or instance.execution_id != task.execution_id:
            # Many open tasks, busy, or the instance moved on (continued as new): the inbox.
            outcomes.to_inbox(recorded)
            wake_orchestration(task.instance_id, task.task_hub)
            return True, None
        merged = (outcomes.outcome_event(task, outcome),)
        # Nothing but on_commit hooks follows (task_finished): the COMMIT may go along.
        episode = episode_locked(instance, registry, merged, claim=True, commit=block)
        if episode.claimed is not None:
            task_finished(task)  # this thread runs that: a wake-up takes the freed slot
    episode.committed()
    return True, episode.claimed


def limit_result(name: str, outcome: ActivityOutcome) -> ActivityOutcome:
    """Fail (for good) an attempt whose result is over DURABLE_MAX_PAYLOAD_BYTES.

    The result is never recorded: history should hold references, not artifacts.
    """
    if not outcome.ok:
        return outcome
    try:
        check_size(
            outcome.result,
            f"result of activity {name!r}",
            conf.MAX_PAYLOAD_BYTES,
        )
    except PayloadTooLarge as exc:
        observe_payload_rejected("activity_result")
        return ActivityOutcome(False, failure=FailureDetails.from_exception(exc))
    return outcome
