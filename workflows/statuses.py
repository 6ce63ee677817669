"""Status choices of the durable state (one module, shared by models and queries)."""

from __future__ import annotations

from django.db import models


class InstanceStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"
    SUSPENDED = "suspended"


TERMINAL = frozenset({InstanceStatus.COMPLETED, InstanceStatus.FAILED, InstanceStatus.TERMINATED})
ACTIVE = frozenset({InstanceStatus.PENDING, InstanceStatus.RUNNING, InstanceStatus.SUSPENDED})

# How an attention reason starts when replaying the history failed with the deployed code
# (workflows/episodes.py); the instance waits for an operator's retry of the episode.
REPLAY_FAILED = "replay:"


class TaskStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A task still to run or running: what a finished instance cancels, what counts as open.
OPEN = (TaskStatus.SCHEDULED, TaskStatus.RUNNING)


class EventOutcome(models.TextChoices):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class CompensationStatus(models.TextChoices):
    REGISTERED = "registered"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    FAILED = "failed"
    RESOLVED_MANUALLY = "resolved_manually"
    SKIPPED = "skipped"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
