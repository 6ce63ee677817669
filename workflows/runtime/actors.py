"""Thin Dramatiq actors: they carry wake-ups; the database holds the state.

Dramatiq's Retries middleware is not installed: retrying is the engine's job.
"""

from __future__ import annotations

import dramatiq
from django.conf import settings

HUB = settings.DURABLE_TASK_HUB
ORCHESTRATION_QUEUE = f"durable-{HUB}-orchestrations"
ACTIVITY_QUEUE = f"durable-{HUB}-activities"


@dramatiq.actor(queue_name=ORCHESTRATION_QUEUE, actor_name=f"run_orchestration_{HUB}")
def run_orchestration(instance_pk: int) -> None:
    from ..store import run_episode

    run_episode(instance_pk)


@dramatiq.actor(queue_name=ACTIVITY_QUEUE, actor_name=f"run_activity_{HUB}")
def run_activity(task_pk: int) -> None:
    from .activities import execute_task

    execute_task(task_pk)
