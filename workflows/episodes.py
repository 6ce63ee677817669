"""Running episodes: one instance's pending events applied and committed atomically.

See docs/architecture.md, "One episode, step by step".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.db.transaction import Atomic
from django.utils import timezone

from .compiled import CompiledQuery, StatementBatch
from .conf import conf
from .counters import observe_episode, observe_replay_failure
from .effects import EpisodeEffects
from .engine import (
    DurableError,
    InstanceRef,
    Orchestration,
    OrchestrationStatus,
    PayloadTooLarge,
    default_registry,
)
from .engine import actions as act
from .engine import events as ev
from .engine.registry import Registry
from .inbox import deliver
from .logging import log_context
from .models import ActivityTask, HistoryEvent, InboxMessage, Instance
from .retention import note_history_growth
from .row_writes import delete_rows, insert_rows, update_fields
from .runtime import completions
from .runtime.cache import sticky_cache
from .signals import notify_changed
from .statuses import OPEN, REPLAY_FAILED, TERMINAL, InstanceStatus
from .tracing import traced_episode

log = logging.getLogger("workflows.runtime")

_STATUS_OF = {
    OrchestrationStatus.RUNNING: InstanceStatus.RUNNING,
    OrchestrationStatus.COMPLETED: InstanceStatus.COMPLETED,
    OrchestrationStatus.FAILED: InstanceStatus.FAILED,
    OrchestrationStatus.TERMINATED: InstanceStatus.TERMINATED,
    OrchestrationStatus.CONTINUED_AS_NEW: InstanceStatus.RUNNING,
}

# What an episode may change on the instance row (the rest is written once, at creation):
# saving only these keeps the large input out of every step's UPDATE.
_EPISODE_FIELDS = [
    "status",
    "output",
    "failure",
    "completed_at",
    "custom_status",
    "needs_attention",
    "attention_reason",
    "history_length",
    "updated_at",
]
_NEW_EXECUTION_FIELDS = ["execution_id", "generation", "input", "trace_context"]  # continue-as-new


# -- one episode -------------------------------------------------------------------
def _locking(skip_locked: bool) -> CompiledQuery:
    def build(pk: int) -> Any:
        inbox = InboxMessage.objects.filter(instance_id=OuterRef("pk"))
        qs = Instance.objects.filter(pk=pk).annotate(has_inbox=Exists(inbox))
        if skip_locked:
            # Two open tasks or more (the result being recorded is one): a fan-out. A
            # result of it in a process that does not know the instance goes to the
            # inbox (runtime/activities._finish_alone). An index probe (task_instance_idx).
            open_tasks = ActivityTask.objects.filter(instance_id=OuterRef("pk"), status__in=OPEN)
            qs = qs.annotate(fan_out=Exists(open_tasks[1:2]))
        # NO KEY: inserting an inbox row or a task takes a key-share lock on this row (the
        # foreign key, checked at commit); a plain FOR UPDATE would make such a commit
        # wait for the episode while the episode waits for that writer's task rows.
        return qs.select_for_update(skip_locked=skip_locked, no_key=True)[:1]

    return CompiledQuery(Instance, build)


_LOCK, _LOCK_OR_SKIP = _locking(False), _locking(True)
_INBOX = CompiledQuery(
    InboxMessage, lambda pk: InboxMessage.objects.filter(instance_id=pk).order_by("pk")
)


def lock_instance(
    instance_pk: int, wait: bool = True, then: StatementBatch | None = None
) -> Instance | None:
    """Lock the instance row for an episode; with ``wait=False`` None if someone holds it.

    The row comes with ``has_inbox`` so an episode with nothing delivered (the merged
    result-and-episode path) skips reading the inbox: one round trip less per step.
    ``then`` (the result's UPDATE of a merged step) is sent right after the lock, in its
    round trip, whether or not the row was free.
    """
    if not wait and connection.features.has_select_for_update_skip_locked:
        return _LOCK_OR_SKIP.first(instance_pk, then)
    return _LOCK.first(instance_pk, then)  # SQLite: the IMMEDIATE transaction serializes


# A fan-out whose row changed this recently is being run by the rounds of the process
# that caches it (runtime/merge.py): another process leaves its results to those rounds.
OWNER_ACTIVE = timedelta(seconds=0.1)


def driven_elsewhere(instance: Instance) -> bool:
    """Whether the locked ``instance`` (locked without waiting: it carries ``fan_out``) is
    a fan-out that another process's rounds are running now: this process does not cache
    it and its row changed within OWNER_ACTIVE. Such a process applies its results from
    the inbox in its next round, with the state it holds; an episode here would replay the
    instance and make this process a second owner, whose rounds queue on the row with the
    first's (docs/architecture.md, "Several worker processes"). Once the rounds stop (the
    owner's tasks done, or the owner gone) the row goes quiet and anyone applies them.
    """
    return (
        getattr(instance, "fan_out", False)
        and sticky_cache().activities_in_flight(instance.pk) is None
        and timezone.now() - instance.updated_at < OWNER_ACTIVE
    )


class Episode:
    """One episode run inside the caller's transaction; :meth:`committed` runs after commit."""

    def __init__(self) -> None:
        self.ran = False
        self.claimed: ActivityTask | None = None
        self.claimed_all: list[ActivityTask] = []  # with several claimants (runtime/merge.py)
        self._after: Callable[[], None] | None = None

    def committed(self) -> None:
        """Cache the live state and report metrics; call only once the transaction committed."""
        if self._after is not None:
            self._after()


def run_episode(
    instance_pk: int,
    registry: Registry | None = None,
    hub: str | None = None,
    claim: bool = True,
    wait: bool = True,
) -> tuple[bool | None, ActivityTask | None]:
    """Apply all pending inbox messages of one instance in one transaction; returns
    (ran, claimed task). Wake-ups are idempotent: with nothing in the inbox (or the
    instance suspended or finished, or not of ``hub``) nothing runs.

    With ``claim`` the first activity the episode schedules is claimed for the calling
    thread (returned) instead of being sent through the broker.

    With ``wait=False`` a thread never queues behind another episode of the same
    instance: it returns ``(None, None)`` when the row is locked.
    """
    skip = not wait and connection.features.has_select_for_update_skip_locked
    with (block := transaction.atomic()):
        # A wake-up is for its inbox: read in the lock's round trip, once the row is ours.
        instance, inbox = (_LOCK_OR_SKIP if skip else _LOCK).first_with_all(instance_pk, _INBOX)
        if instance is None and not wait and Instance.objects.filter(pk=instance_pk).exists():
            return None, None  # busy: the caller tries again a moment later
        if instance is None or (hub is not None and instance.task_hub != hub):
            return False, None  # gone, or another task hub's instance: never ours to run
        if skip and inbox and driven_elsewhere(instance):
            return None, None  # its owner's next round applies the inbox: look again later
        episode = episode_locked(instance, registry, claim=claim, inbox=inbox, commit=block)
    episode.committed()
    return episode.ran, episode.claimed


@traced_episode  # a span per episode when OpenTelemetry is on (workflows/tracing.py)
def episode_locked(
    instance: Instance,
    registry: Registry | None = None,
    extra_events: tuple[tuple[ev.HistoryEvent, str], ...] = (),
    claim: bool | Sequence[str] = False,
    inbox: list[InboxMessage] | None = None,
    commit: Atomic | None = None,
) -> Episode:
    """Run an episode of the locked ``instance`` in the current transaction.

    ``extra_events`` (event, dedup key) are delivered with this episode without a
    round trip through the inbox; if the episode cannot run they go to the inbox.
    ``inbox``: its messages, when the caller read them after taking the lock.
    ``commit``: the caller's own block, in which it runs no more SQL (only on_commit
    hooks), so the episode's last round trip may carry its COMMIT (StatementBatch.run).
    """
    registry = registry or default_registry
    episode = Episode()
    if instance.status in TERMINAL:
        return episode
    if inbox is not None:
        messages = inbox
    elif getattr(instance, "has_inbox", True):
        messages = list(_INBOX.all(instance.pk))
    else:
        messages = []
    if instance.status == InstanceStatus.SUSPENDED or (not messages and not extra_events):
        _to_inbox(instance, extra_events)
        return episode
    now = timezone.now()
    current = ("", instance.execution_id)
    stale = [m.pk for m in messages if m.execution_id not in current]
    events = [
        ev.event_from_payload(m.kind, m.payload) for m in messages if m.execution_id in current
    ]
    events.extend(event for event, _key in extra_events)
    if not events:  # only late messages of an ended execution: drop, no empty episode
        InboxMessage.objects.filter(pk__in=stale).delete()
        return episode
    cache = sticky_cache()
    history_before, execution_before = instance.history_length, instance.execution_id
    epoch = instance.history_epoch
    replay_seconds = None
    started = time.perf_counter()
    try:
        orchestration = cache.take(
            instance.pk, execution_before, epoch, history_before, instance.updated_at
        )
        if orchestration is None:
            orchestration = _new_orchestration(registry, instance)
        if orchestration.history_length < history_before:
            _catch_up(orchestration, instance)
            replay_seconds = time.perf_counter() - started
        result = orchestration.apply(events, now)
    except DurableError as exc:
        cache.discard(instance.pk)
        _to_inbox(instance, extra_events)
        _needs_attention(instance, exc)
        if stale:
            InboxMessage.objects.filter(pk__in=stale).delete()
        return episode
    # The episode's own writes (history, its new tasks, the instance row, the completion
    # notice) go to the database together, in one round trip where it can (PostgreSQL).
    # Nothing the actions run meanwhile reads them (docs/architecture.md, "One episode").
    batch = StatementBatch()
    _append_history(instance, result.new_history, now, batch)
    effects = EpisodeEffects(instance, now, registry, claim=claim, batch=batch)
    for action in result.actions:
        effects.apply(action)
    delete_rows(InboxMessage, [m.pk for m in messages], batch=batch)
    if not effects.continued:
        instance.status = _STATUS_OF[result.status]
        instance.output = result.output
        instance.failure = result.failure.to_dict() if result.failure else None
        if instance.status in TERMINAL:
            instance.completed_at = now
    instance.custom_status = result.custom_status
    if instance.needs_attention and instance.attention_reason.startswith(REPLAY_FAILED):
        instance.needs_attention, instance.attention_reason = False, ""
    fields = _EPISODE_FIELDS + (_NEW_EXECUTION_FIELDS * effects.continued)
    update_fields(instance, fields, batch=batch)
    notify_changed(instance)
    if instance.status in TERMINAL:
        completions.announce(instance, batch)  # waiters (wait_for_completion, ?wait=) read now
    running = instance.status == InstanceStatus.RUNNING and not effects.continued
    execution_id = instance.execution_id
    # Back in the cache now, not after the commit: the next episode of this instance (in
    # another thread, right after our commit releases the row) must not miss it and replay
    # everything. Provisional until the commit (see StickyCache).
    if running:
        stamp = instance.updated_at
        cache.put(instance.pk, execution_id, epoch, orchestration, stamp)
        transaction.on_commit(lambda: cache.confirm(instance.pk, stamp))
    else:
        cache.discard(instance.pk)
    # The new tasks' INSERT ... RETURNING after the batch's writes, and with ``commit``
    # the COMMIT too (StatementBatch.run): the whole tail in one round trip.
    effects.flush(batch, commit)
    if not batch.committed:
        batch.run(commit=commit)
    episode.ran, episode.claimed, episode.claimed_all = True, effects.claimed, effects.claimed_all

    def after_commit() -> None:
        _observe(instance.name, result, events, time.perf_counter() - started, replay_seconds)
        note_history_growth(instance, history_before)
        if result.is_finished:
            log.info(
                "orchestration %s %s (%s)",
                instance.name,
                result.status,
                instance.instance_id,
                extra=log_context(
                    instance, execution_id=execution_before, history_length=result.history_length
                ),
            )

    episode._after = after_commit
    return episode


def _to_inbox(instance: Instance, extra_events: tuple[tuple[ev.HistoryEvent, str], ...]) -> None:
    for event, dedup_key in extra_events:
        deliver(instance, event, dedup_key=dedup_key, execution_id=instance.execution_id)


def _new_orchestration(registry: Registry, instance: Instance) -> Orchestration:
    return Orchestration(
        registry,
        InstanceRef(instance.instance_id, instance.execution_id),
        max_output_bytes=conf.MAX_PAYLOAD_BYTES,
    )


def _catch_up(orchestration: Orchestration, instance: Instance) -> None:
    """Replay the stored events the (cached or new) state has not seen yet."""
    rows = (
        HistoryEvent.objects.filter(
            instance=instance,
            execution_id=instance.execution_id,
            seq__gt=orchestration.history_length,
        )
        .order_by("seq")
        .values_list("kind", "payload")
    )
    orchestration.replay(ev.event_from_payload(kind, payload) for kind, payload in rows)


def _append_history(
    instance: Instance,
    events: tuple[ev.HistoryEvent, ...],
    now: datetime,
    batch: StatementBatch | None = None,
) -> None:
    start = instance.history_length
    execution = instance.execution_id
    rows = [
        (instance.pk, execution, start + i + 1, e.kind.value, ev.event_to_payload(e), now)
        for i, e in enumerate(events)
    ]
    insert_rows(HistoryEvent, _HISTORY_COLUMNS, rows, batch=batch)
    instance.history_length = start + len(events)


_HISTORY_COLUMNS = ["instance", "execution_id", "seq", "kind", "payload", "timestamp"]


def _needs_attention(instance: Instance, exc: Exception) -> None:
    """Replay no longer matches the code: keep the inbox, flag for a person."""
    log.error(
        "instance %s (%s) needs attention: %s",
        instance.instance_id,
        instance.business_key or "-",
        exc,
        extra=log_context(instance),
    )
    observe_replay_failure(instance.name)
    instance.needs_attention = True
    instance.attention_reason = f"{REPLAY_FAILED} {exc}"
    instance.save(update_fields=["needs_attention", "attention_reason", "updated_at"])
    notify_changed(instance)


_RESULT_EVENTS = (
    ev.ActivityCompleted,
    ev.ActivityFailedEvent,
    ev.SubOrchestrationCompleted,
    ev.SubOrchestrationFailedEvent,
)
_STARTS = (act.ScheduleActivity, act.StartSubOrchestration)


def _observe(
    name: str,
    result: Any,
    events: list[ev.HistoryEvent],
    engine_seconds: float,
    replay_seconds: float | None,
) -> None:
    finished = result.status != OrchestrationStatus.RUNNING
    failure = result.failure
    observe_episode(
        name,
        history_length=result.history_length,
        started=sum(1 for a in result.actions if isinstance(a, _STARTS)),
        results=sum(1 for e in events if isinstance(e, _RESULT_EVENTS)),
        finished_as=str(result.status) if finished else None,
        output_too_large=failure is not None and failure.is_instance_of(PayloadTooLarge),
        engine_seconds=engine_seconds,
        replay_seconds=replay_seconds,
    )
