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
from .activities import attempt, claim_tasks, finish_task, run_chain
from .cache import sticky_cache
from .dispatch import wake_orchestration
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
    # Episodes run here may have claimed their instance's next activity for this thread.
    for task in follow_ups:
        run_chain(task, registry)
    return recorded


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
        if claimed is not None:
            follow_ups.append(claimed)
        return int(recorded)
    recorded, episodes = record_outcomes(results, registry)
    for episode in episodes:
        episode.committed()
        if episode.claimed is not None:
            follow_ups.append(episode.claimed)
    return recorded


def record_outcomes(
    results: list[tuple[ActivityTask, ActivityOutcome]], registry: Registry
) -> tuple[int, list[Episode]]:
    """Record many outcomes in one transaction; returns (recorded, episodes run inline).

    Outcomes go through the inbox, many at once. An instance this process has cached,
    whose open activities are all among them, runs its episode in the same commit;
    the others get one wake-up each.
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
        cache = sticky_cache()
        for instance_pk, finished in per_instance.items():
            open_here = cache.activities_in_flight(instance_pk)
            last_ones = open_here is not None and 0 < open_here <= len(finished)
            instance = lock_instance(instance_pk, wait=False) if last_ones else None
            if instance is None or instance.execution_id != finished[0].execution_id:
                wake_orchestration(instance_pk, finished[0].task_hub)
                continue
            episodes.append(episode_locked(instance, registry, claim=True))
    return len(recorded), episodes
