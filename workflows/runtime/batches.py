"""Running a batch of a fan-out's tasks from one message: one claim, few result commits.

A large fan-out sends several tasks a message (dispatch.batch_size). The receiving thread
claims them all in one UPDATE, runs them one after another and records the outcomes in
batches: one commit per FLUSH_SECONDS (50 ms) of results instead of one
per task. A batch is for trivial, quick activities: when it has run longer than
DURABLE_ACTIVITY_BATCH_SECONDS, the tasks it has not started are given back (scheduled
again, one message each), so slow activities still spread over every worker thread.

At least once, as ever: a crash leaves the claimed tasks running under their lease, and
the sweeper runs them again when it expires.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from django.db import transaction

from ..conf import conf
from ..engine import default_registry
from ..engine.activity import ActivityOutcome
from ..engine.registry import Registry
from ..episodes import Episode, episode_locked, lock_instance
from ..models import ActivityTask
from . import outcomes, shutdown
from .activities import (
    attempt,
    claim_tasks,
    finish_task,
    may_finish_together,
    run_chain,
    start_async_tasks,
)
from .dispatch import wake_orchestration
from .merge import finish_together
from .renewal import give_back

log = logging.getLogger("workflows.runtime")

# Results wait at most this long for company before they are committed.
FLUSH_SECONDS = 0.05
# After an attempt this slow, results are committed before the next one starts.
SLOW_SECONDS = 0.01


def execute_batch(
    task_pks: list[int], registry: Registry | None = None, hub: str | None = None
) -> int:
    """Run a batch message's tasks; returns how many outcomes this call recorded."""
    registry = registry or default_registry
    tasks = claim_tasks(task_pks, hub)
    recorded = 0
    while len(tasks) > 1:
        # A bounded fan-out's episodes hand the batch's thread as many next tasks as it
        # brought results: it goes on with them as a batch.
        done, tasks = run_batch(tasks, registry)
        recorded += done
    for task in tasks:
        run_chain(task, registry)
    return recorded


def run_batch(tasks: list[ActivityTask], registry: Registry) -> tuple[int, list[ActivityTask]]:
    """Run claimed tasks one after another, recording outcomes a few at a time; returns
    (outcomes recorded, the tasks episodes run here claimed for this thread)."""
    tasks = start_async_tasks(tasks, registry)  # to the event loop while it has room
    budget = conf.ACTIVITY_BATCH_SECONDS
    started = time.monotonic()
    recorded = 0
    follow_ups: list[ActivityTask] = []
    pending: list[tuple[ActivityTask, ActivityOutcome]] = []
    pending_since = last_took = 0.0
    position = 0  # tasks[:position] have been attempted
    try:
        while position < len(tasks):
            now = time.monotonic()
            if position and (now - started > budget or shutdown.stopping()):
                returned = give_back(task.pk for task in tasks[position:])
                log.info("activity batch ran long: gave %d tasks back", returned)
                position = len(tasks)
                break
            # Results do not wait behind a task that may be slow: flush them first.
            if pending and (now - pending_since >= FLUSH_SECONDS or last_took >= SLOW_SECONDS):
                recorded += _flush(pending, registry, follow_ups)
                pending = []
            if not pending:
                pending_since = time.monotonic()
            task = tasks[position]
            position += 1
            began = time.monotonic()
            pending.append((task, attempt(task, registry)))
            last_took = time.monotonic() - began
        if pending:
            recorded += _flush(pending, registry, follow_ups)
    except BaseException:
        # Not started, or claimed for this thread by an episode: let others run them now
        # rather than after their leases. (Results not recorded run again at lease expiry.)
        _give_back_quietly([*tasks[position:], *follow_ups])
        raise
    if len(follow_ups) > 1 and shutdown.stopping():
        _give_back_quietly(follow_ups)
        return recorded, []
    return recorded, follow_ups


def _give_back_quietly(tasks: list[ActivityTask]) -> None:
    if not tasks:
        return
    try:
        give_back(task.pk for task in tasks)
    except Exception:  # noqa: BLE001 - the database may be the failure: leases cover it
        log.warning("could not give %d claimed tasks back; their leases will", len(tasks))


def _flush(
    results: list[tuple[ActivityTask, ActivityOutcome]],
    registry: Registry,
    follow_ups: list[ActivityTask],
) -> int:
    if len(results) == 1:  # the single-result path may merge the next episode
        task, outcome = results[0]
        recorded, claimed = finish_task(task, outcome, registry)
        if claimed is not None:  # with the group a quick result may bring (runtime/merge.py)
            follow_ups.extend([claimed, *claimed.__dict__.pop("group", [])])
        return int(recorded)
    if may_finish_together([task for task, _outcome in results]):
        # A bounded fan-out's batch: one episode with the instance's other results here.
        alone = lambda results: _record_alone(results, registry)  # noqa: E731
        recorded, claimed = finish_together(results, registry, alone)
    else:
        recorded, claimed = _record_alone(results, registry)
    follow_ups.extend(claimed)
    return recorded


def _record_alone(
    results: list[tuple[ActivityTask, ActivityOutcome]], registry: Registry
) -> tuple[int, list[ActivityTask]]:
    recorded, episodes = record_outcomes(results, registry)
    claimed = [e.claimed for e in episodes if e.claimed is not None]
    for episode in episodes:
        episode.committed()
    return recorded, claimed


def record_outcomes(
    results: list[tuple[ActivityTask, ActivityOutcome]], registry: Registry
) -> tuple[int, list[Episode]]:
    """Record many outcomes in one transaction; returns (recorded, episodes run inline).

    Outcomes go through the inbox, many at once. An instance whose row is free runs its
    episode in the same commit (applying them with whatever else its inbox holds: a
    bounded fan-out's next tasks start at once, the first on this thread); the others
    get one wake-up each.
    """
    episodes: list[Episode] = []
    with transaction.atomic():
        recorded = outcomes.record(results)
        if not recorded:
            return 0, []
        outcomes.to_inbox(recorded)
        per_instance: dict[int, list[ActivityTask]] = defaultdict(list)
        for task, _outcome in recorded:
            per_instance[task.instance_id].append(task)
        for instance_pk, finished in per_instance.items():
            instance = lock_instance(instance_pk, wait=False)
            if instance is None or instance.execution_id != finished[0].execution_id:
                wake_orchestration(instance_pk, finished[0].task_hub)
                continue
            episodes.append(episode_locked(instance, registry, claim=True))
    return len(recorded), episodes
