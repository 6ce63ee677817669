"""A worker process killed with SIGKILL in the middle of an entity's batch: the batch's
transaction never commits, the operations stay queued, and another worker applies each
of them exactly once, in order. Needs real worker processes on a real broker."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from django.utils import timezone

from tests.support.checks import wait_until
from workflows.engine import EntityId
from workflows.entities.models import Entity, EntityOperation
from workflows.entities.sending import Queued, enqueue

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_broker")]

ENV = {"DURABLE_WORKFLOW_MODULES": "tests.entities.workflows"}


def _row():
    return Entity.objects.filter(name="t_log", key="crash").first()


def test_a_worker_killed_mid_batch_applies_every_operation_once(
    durable_client, worker_process_factory
):
    victim = worker_process_factory(**ENV)
    for n in range(50):
        durable_client.signal_entity(("t_log", "crash"), "slow_append", n)
    wait_until(lambda: _row() and _row().state == list(range(50)), what="the first batches")
    with transaction.atomic():  # queued together: one wake-up, one long batch
        enqueue(
            durable_client.hub,
            [Queued(EntityId("t_log", "crash"), "slow_append", n) for n in range(50, 400)],
            timezone.now(),
        )
    time.sleep(1.0)  # 350 operations of 10 ms: the batch is under way
    version_before = _row().version
    victim.kill()
    assert EntityOperation.objects.filter(entity=_row()).count() == 350, "not mid-batch"
    worker_process_factory(**ENV)
    wait_until(
        lambda: not EntityOperation.objects.filter(entity=_row()).exists(),
        timeout=120,
        what="every operation applied",
    )
    row = _row()
    assert row.state == list(range(400)), "each operation once, in the order sent"
    assert row.operations_applied == 400
    assert row.version > version_before
