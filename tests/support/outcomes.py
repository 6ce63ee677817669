"""Recording an activity outcome by hand, as a worker would after running the task."""

from __future__ import annotations

from typing import Any

from workflows.engine import FailureDetails
from workflows.engine.activity import ActivityOutcome
from workflows.models import ActivityTask
from workflows.runtime.outcomes import record_and_wake


def record_task_outcome(
    task_pk: int, ok: bool, result: Any, failure: FailureDetails | None
) -> bool:
    """Record the outcome of a RUNNING task through the inbox; False for a duplicate."""
    task = ActivityTask.objects.get(pk=task_pk)
    return record_and_wake(task, ActivityOutcome(ok, result if ok else None, failure))
