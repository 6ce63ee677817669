"""The schedules' tables (docs/architecture.md, "Data model" and "Schedules").

``Schedule`` is one timetable with its policies and where it stands (the next due time,
a buffered run, counts); the driver advances it under its row lock. ``ScheduleRun`` is
each scheduled time decided: started (with the instance id) or skipped. Its unique
(schedule, scheduled_at) and the instance's unique id are why a time never starts twice.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q

from ..models import Instance
from ..payloads.fields import PayloadField, PayloadTextField
from ..statuses import TERMINAL
from . import policies

MANAGE = "manage_schedule"


class ScheduleQuerySet(models.QuerySet):
    def due(self, hub: str, now: datetime) -> ScheduleQuerySet:
        """Not paused, and a time is due or a buffered run may start (its previous run
        finished or is gone). Queried by the sweeper's wake-up and the driver's claim."""
        previous_active = Instance.objects.filter(
            task_hub=OuterRef("task_hub"), instance_id=OuterRef("last_instance_id")
        ).exclude(status__in=TERMINAL)
        buffer_ready = Q(buffered_at__isnull=False) & ~Exists(previous_active)
        return self.filter(task_hub=hub, paused=False).filter(
            Q(next_due_at__lte=now) | buffer_ready
        )


class Schedule(models.Model):
    task_hub = models.CharField(max_length=100)
    schedule_id = models.CharField(max_length=150)
    orchestrator = models.CharField(max_length=200)
    version = models.PositiveIntegerField(null=True, blank=True)  # None: the latest
    input = PayloadField(null=True, blank=True)
    pass_scheduled_time = models.BooleanField(default=False)  # input["scheduled_at"]
    cron = models.CharField(max_length=200, blank=True, default="")
    timezone = models.CharField(max_length=64, default="UTC")
    interval_seconds = models.PositiveIntegerField(default=0)
    offset_seconds = models.PositiveIntegerField(default=0)
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    jitter_seconds = models.PositiveIntegerField(default=0)
    overlap = models.CharField(
        max_length=20, choices=[(p, p) for p in policies.OVERLAP], default=policies.SKIP
    )
    catchup = models.CharField(
        max_length=10, choices=[(p, p) for p in policies.CATCHUP], default=policies.LATEST
    )
    catchup_window_seconds = models.PositiveIntegerField(default=3600)
    note = models.TextField(blank=True, default="")
    source = models.CharField(max_length=10, default="api")  # "api" or "code" (declared)
    paused = models.BooleanField(default=False)
    paused_by = models.CharField(max_length=200, blank=True, default="")
    paused_note = models.TextField(blank=True, default="")
    paused_at = models.DateTimeField(null=True, blank=True)
    # Where it stands: the next time (nominal) and when it is due (plus its jitter).
    next_run_at = models.DateTimeField(null=True, blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    buffered_at = models.DateTimeField(null=True, blank=True)  # buffer_one: waiting run
    last_instance_id = models.CharField(max_length=200, blank=True, default="")
    last_error = PayloadTextField(blank=True, default="")  # may quote failure text
    started = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # by the overlap policy
    missed = models.PositiveIntegerField(default=0)  # by the catch-up policy
    late_starts = models.PositiveIntegerField(default=0)  # started over GRACE after due
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task_hub", "schedule_id"], name="schedule_hub_id")
        ]
        # queried by the driver's claim and the sweeper's wake-up (ScheduleQuerySet.due)
        indexes = [
            models.Index(fields=["task_hub", "paused", "next_due_at"], name="schedule_due_idx")
        ]
        permissions = [(MANAGE, "Can create, change, pause, trigger and delete schedules")]

    def __str__(self) -> str:
        return self.schedule_id


class RunKind(models.TextChoices):
    SCHEDULED = "scheduled"
    CATCHUP = "catchup"  # started late, after downtime
    BUFFERED = "buffered"
    TRIGGER = "trigger"
    BACKFILL = "backfill"


class RunOutcome(models.TextChoices):
    STARTED = "started"
    SKIPPED = "skipped"


class ScheduleRun(models.Model):
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    task_hub = models.CharField(max_length=100)
    scheduled_at = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=RunKind.choices)
    outcome = models.CharField(max_length=10, choices=RunOutcome.choices)
    instance_id = models.CharField(max_length=200, blank=True, default="")
    reason = models.CharField(max_length=200, blank=True, default="")
    decided_at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "scheduled_at"], name="schedule_run_once")
        ]
        # the instance page's link back to its schedule
        indexes = [models.Index(fields=["task_hub", "instance_id"], name="schedule_run_inst_idx")]
