"""Running one activity task: claim with a lease, run outside any transaction, record."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..engine import ActivityContext, FailureDetails, PayloadTooLarge, default_registry
from ..engine.activity import ActivityOutcome, run_activity
from ..engine.payloads import check_size
from ..engine.registry import Registry
from ..logging import log_context
from ..metrics import observe_activity, observe_payload_rejected
from ..models import ActivityTask
from ..statuses import TERMINAL, TaskStatus
from ..store import record_task_outcome

log = logging.getLogger("workflows.runtime")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def claim_task(task_pk: int, hub: str | None = None) -> ActivityTask | None:
    """Mark the task running under a lease; None if it is not ours (or not ``hub``'s) to run."""
    now = timezone.now()
    lease = timedelta(seconds=float(settings.DURABLE_ACTIVITY_LEASE_SECONDS))
    with transaction.atomic():
        task = (
            ActivityTask.objects.select_for_update(of=("self",))
            .select_related("instance")
            .filter(pk=task_pk)
            .first()
        )
        if task is None or (hub is not None and task.task_hub != hub):
            return None
        if (
            task.status == TaskStatus.RUNNING
            and task.lease_expires_at
            and task.lease_expires_at > now
        ):
            return None  # another worker holds a live lease
        if task.status not in (TaskStatus.SCHEDULED, TaskStatus.RUNNING):
            return None  # finished or cancelled: a duplicate delivery
        if task.instance.status in TERMINAL or task.instance.execution_id != task.execution_id:
            task.status = TaskStatus.CANCELLED
            task.save(update_fields=["status"])
            return None
        task.status = TaskStatus.RUNNING
        task.runs += 1
        task.lease_expires_at = now + lease
        task.worker = worker_name()
        task.started_at = now
        task.save(update_fields=["status", "runs", "lease_expires_at", "worker", "started_at"])
    return task


def execute_task(task_pk: int, registry: Registry | None = None, hub: str | None = None) -> bool:
    """Run one activity attempt at least once; returns True if this call recorded it."""
    task = claim_task(task_pk, hub)
    if task is None:
        return False
    ctx = ActivityContext(
        instance_id=task.instance.instance_id,
        name=task.name,
        attempt=task.attempt,
        idempotency_key=task.idempotency_key,
        task_id=task.task_id,
        execution_id=task.execution_id,
    )
    started = time.perf_counter()
    outcome = limit_result(task.name, run_activity(registry or default_registry, ctx, task.input))
    elapsed = time.perf_counter() - started
    observe_activity(task.name, task.attempt, task.runs, outcome.ok, elapsed)
    log.info(
        "activity %s %s of %s in %.1f ms",
        task.name,
        "completed" if outcome.ok else f"failed ({outcome.failure.summary()})",
        task.instance.instance_id,
        elapsed * 1000,
        extra=log_context(task.instance, activity=task.name, task_id=task.task_id),
    )
    return record_task_outcome(task.pk, outcome.ok, outcome.result, outcome.failure)


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
            int(settings.DURABLE_MAX_PAYLOAD_BYTES),
        )
    except PayloadTooLarge as exc:
        observe_payload_rejected("activity_result")
        return ActivityOutcome(False, failure=FailureDetails.from_exception(exc))
    return outcome
