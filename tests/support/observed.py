"""Reading the durable state of this run's task hub (tests/versioning, tests/observability).

Hub-aware, so these suites also run with DURABLE_TASK_HUB set (e.g. beside another
test run on the same RabbitMQ).
"""

from __future__ import annotations

from workflows.conf import conf
from workflows.models import HistoryEvent, Instance


def row(instance_id: str) -> Instance:
    return Instance.objects.get(task_hub=conf.TASK_HUB, instance_id=instance_id)


def history(instance_id: str) -> list[HistoryEvent]:
    """The current execution's history rows, in order."""
    inst = row(instance_id)
    return list(
        HistoryEvent.objects.filter(instance=inst, execution_id=inst.execution_id).order_by("seq")
    )


def kinds(instance_id: str) -> list[str]:
    return [event.kind for event in history(instance_id)]
