"""workflows/figures.py at scale: fan-outs found from the open tasks, then counted whole."""

from __future__ import annotations

import pytest

from workflows.client import DurableClient
from workflows.figures import hub_figures
from workflows.models import ActivityTask, Instance

pytestmark = pytest.mark.django_db


def _instance(hub: str, instance_id: str, status: str = "running") -> Instance:
    return Instance.objects.create(
        task_hub=hub, instance_id=instance_id, name="t", status=status, execution_id="e1"
    )


def _tasks(instance: Instance, statuses: list[str], execution_id: str = "e1") -> None:
    for n, status in enumerate(statuses, start=1):
        ActivityTask.objects.create(
            task_hub=instance.task_hub,
            instance=instance,
            execution_id=execution_id,
            task_id=n,
            call_id=n,
            name="step",
            status=status,
            idempotency_key=f"{instance.instance_id}:{execution_id}:{n}",
        )


def test_a_fan_out_counts_its_finished_tasks_and_only_running_current_executions():
    hub = DurableClient().hub
    _tasks(_instance(hub, "wide"), ["scheduled", "running", "completed", "failed", "completed"])
    _tasks(_instance(hub, "one-open"), ["scheduled", "completed"])
    _tasks(_instance(hub, "suspended", status="suspended"), ["scheduled", "scheduled"])
    _tasks(_instance(hub, "old-execution"), ["scheduled", "scheduled"], execution_id="e0")

    figures = hub_figures(hub)

    assert figures.fan_outs_in_flight == 1
    assert (figures.fan_out_open, figures.fan_out_done) == (2, 3)
