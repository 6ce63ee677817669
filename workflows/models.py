"""The durable state (docs/architecture.md, "Data model"). The database is the truth; the
broker only wakes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.db.models.fields.json import KeyTransform

from .payloads.fields import PayloadField, PayloadTextField
from .statuses import (
    ACTIVE,
    OPEN,
    ApprovalStatus,
    CompensationStatus,
    EventOutcome,
    InstanceStatus,
    TaskStatus,
)


class SearchText(models.Func):
    """``instance_id``, ``name`` and ``business_key`` as one text, split by chr(1): what a
    search by fragment looks in. On PostgreSQL the trigram index ``inst_search_trgm``
    (migration 0009) holds ``UPPER`` of exactly this expression, so ``icontains`` on it is
    an index scan instead of a sequential scan of the whole table."""

    template = "(%(expressions)s)"
    arg_joiner = " || chr(1) || "
    output_field = models.TextField()

    def __init__(self) -> None:
        super().__init__("instance_id", "name", "business_key")

    def as_sqlite(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        return self.as_sql(compiler, connection, arg_joiner=" || char(1) || ", **extra)


class InstanceQuerySet(models.QuerySet["Instance"]):
    def search(self, fragment: str) -> InstanceQuerySet:
        """Instances whose id, name or business key contains ``fragment`` (any case).

        Example::

            Instance.objects.filter(task_hub="default").search("ORD-1234")
        """
        return self.alias(search_text=SearchText()).filter(search_text__icontains=fragment)

    def with_attributes(self, attributes: dict[str, list[Any]]) -> InstanceQuerySet:
        """Instances whose search attribute ``name`` equals one of its candidate values,
        for every name given (``ctx.upsert_search_attributes``). A value matches only its
        own JSON type: true is not 1, 5 is not "5" (5.0 is 5).

        On PostgreSQL each is a containment (``@>``) that the GIN index ``inst_attrs_gin``
        (migration 0011) answers; elsewhere a JSON key transform. The name is always a
        key, never a lookup (``contains``, ``isnull``... are attribute names like others).

        Example::

            Instance.objects.with_attributes({"customer": ["acme"], "amount": ["5", 5]})
        """
        qs = self
        for n, (name, values) in enumerate(attributes.items()):
            match = models.Q()
            if connection.vendor == "postgresql":
                for value in values:
                    match |= models.Q(search_attributes__contains={name: value})
                qs = qs.filter(match)
                continue
            # Django compares a key's JSON type too (JSON_TYPE on SQLite): true is not 1.
            key = f"_attr{n}"
            qs = qs.alias(**{key: KeyTransform(name, "search_attributes")})
            for value in values:
                match |= models.Q(**{key: value})
            qs = qs.filter(match)
        return qs


# Statuses of the partial indexes over active instances, in a fixed order (migrations).
ACTIVE_STATUSES = sorted(ACTIVE)


class Instance(models.Model):
    """One orchestration instance (its current execution)."""

    objects = InstanceQuerySet.as_manager()

    task_hub = models.CharField(max_length=64, default="default")
    instance_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.PENDING
    )
    execution_id = models.CharField(max_length=64)
    input = PayloadField(null=True, blank=True, offload=True)
    output = PayloadField(null=True, blank=True, offload=True)
    failure = PayloadField(null=True, blank=True)
    custom_status = PayloadField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    parent_task_id = models.IntegerField(null=True, blank=True)
    business_key = models.CharField(max_length=200, blank=True, default="")
    needs_attention = models.BooleanField(default=False)
    attention_reason = PayloadTextField(blank=True, default="")
    history_length = models.PositiveIntegerField(default=0)
    generation = models.PositiveIntegerField(default=1)  # counts continue-as-new
    # Bumped when history is rewritten (rewind), so cached replay states are dropped.
    history_epoch = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Last time a wake-up was (re)sent; the sweeper re-sends only when this is old.
    woken_at = models.DateTimeField(null=True, blank=True)
    # ctx.upsert_search_attributes, merged: {name: scalar}. Filtered by the console, API
    # and CLI (InstanceQuerySet.with_attributes; GIN index inst_attrs_gin on PostgreSQL).
    search_attributes = models.JSONField(default=dict, blank=True)
    # The W3C trace context (traceparent, tracestate) of this execution's start; null
    # with tracing off. workflows/tracing.py reads it here, not from the start's payload.
    trace_context = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task_hub", "instance_id"], name="uniq_hub_instance")
        ]
        indexes = [
            # console and API lists: by status, newest/oldest first
            models.Index(fields=["task_hub", "status", "created_at"], name="inst_status_idx"),
            models.Index(fields=["task_hub", "name", "created_at"], name="inst_name_idx"),
            models.Index(fields=["task_hub", "business_key"], name="inst_bkey_idx"),
            models.Index(fields=["task_hub", "created_at"], name="inst_created_idx"),
            # the few needing attention, newest first (console, /metrics): a partial index
            models.Index(
                fields=["task_hub", "id"],
                name="inst_attention_idx",
                condition=models.Q(needs_attention=True),
            ),
            # purge of finished instances; the dashboard's completed and failed per hour or
            # day (status too: an index-only scan, no visit to each row)
            models.Index(fields=["task_hub", "completed_at", "status"], name="inst_completed_idx"),
            # Active instances are a small share of a large table. Longest waiting and the
            # oldest idle wait (by updated_at), largest histories and the history warning
            # (by history_length), versions still draining (name, version, created_at):
            # each reads only its partial index, whatever the number of finished ones.
            # The price: an episode's UPDATE of an active instance changes indexed columns
            # (updated_at, history_length), so it is never a HOT update (docs/architecture.md,
            # "Data model").
            models.Index(
                fields=["task_hub", "updated_at", "id"],
                name="inst_active_updated_idx",
                condition=models.Q(status__in=ACTIVE_STATUSES),
            ),
            models.Index(
                fields=["task_hub", "history_length", "id"],
                name="inst_active_history_idx",
                condition=models.Q(status__in=ACTIVE_STATUSES),
            ),
            models.Index(
                fields=["task_hub", "name", "version", "created_at", "id"],
                name="inst_active_version_idx",
                condition=models.Q(status__in=ACTIVE_STATUSES),
            ),
        ]
        permissions = [
            ("start_instance", "Can start workflow instances"),
            ("view_payloads", "Can see inputs, outputs and failure details"),
            ("raise_event", "Can raise events to instances"),
            (
                "operate_instance",
                "Can terminate, suspend, resume, rewind, restart, purge and resolve",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.instance_id} ({self.status})"


class HistoryEvent(models.Model):
    """Append-only, event-sourced history of one execution."""

    # No index of its own: the unique (instance, execution_id, seq) index leads with it
    # (one index write per event saved, docs/architecture.md "Data model").
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, related_name="history", db_index=False
    )
    execution_id = models.CharField(max_length=64)
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=40)
    payload = PayloadField(default=dict, offload=True)
    timestamp = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "execution_id", "seq"], name="uniq_history_seq"
            )
        ]
        ordering = ["instance", "execution_id", "seq"]


class InboxMessage(models.Model):
    """An event delivered to an instance but not yet applied by an episode."""

    # No index of its own: uniq_inbox_dedup leads with it (docs/architecture.md "Data model").
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, related_name="inbox", db_index=False
    )
    execution_id = models.CharField(max_length=64, blank=True, default="")  # "" = any
    kind = models.CharField(max_length=40)
    # Not offloaded: applied messages are deleted by the episode (their objects would stay).
    payload = PayloadField(default=dict)
    # A duplicate delivery hits this constraint and changes nothing.
    dedup_key = models.CharField(max_length=300, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instance", "dedup_key"], name="uniq_inbox_dedup")
        ]
        indexes = [
            # the sweeper finds instances whose wake-up got lost
            models.Index(fields=["created_at"], name="inbox_created_idx"),
        ]


class TaskQuerySet(models.QuerySet["ActivityTask"]):
    def open(self) -> TaskQuerySet:
        """Tasks still to run or running (statuses.OPEN)."""
        return self.filter(status__in=OPEN)

    def claimable(self, now: datetime) -> TaskQuerySet:
        """Tasks a worker may claim at ``now``: scheduled, or running on a lapsed lease."""
        return self.filter(
            models.Q(status=TaskStatus.SCHEDULED)
            | models.Q(status=TaskStatus.RUNNING, lease_expires_at__lt=now)
        )


class ActivityTask(models.Model):
    """One scheduled activity call (one attempt)."""

    objects = TaskQuerySet.as_manager()

    task_hub = models.CharField(max_length=64, default="default")
    # No index of its own: task_instance_idx and uniq_task_per_execution lead with it (two
    # index writes saved per step: the insert and the outcome's update).
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    execution_id = models.CharField(max_length=64)
    task_id = models.PositiveIntegerField()
    call_id = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    input = PayloadField(null=True, blank=True, offload=True)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.SCHEDULED
    )
    idempotency_key = models.CharField(max_length=300)
    result = PayloadField(null=True, blank=True, offload=True)
    failure = PayloadField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)  # times a worker started it (at-least-once)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Times the sweeper re-sent its message: each resend waits twice as long as the last,
    # so tasks merely queued behind a large backlog are not sent over and over.
    resends = models.PositiveIntegerField(default=0, db_default=0)  # older workers omit it
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # This attempt's timeouts (the call's, else the decorator's; None: none): the sweeper
    # fails a run past either with ActivityTimedOut. Older workers insert NULL.
    start_to_close = models.DurationField(null=True, blank=True)
    heartbeat_timeout = models.DurationField(null=True, blank=True)
    # The last heartbeat (ctx.heartbeat) of this call: when and its details. Written only
    # while the task runs; a later run of this row, or the next attempt's row (copied when
    # it is scheduled), starts from them (ctx.last_heartbeat).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    heartbeat_details = PayloadField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "execution_id", "task_id"], name="uniq_task_per_execution"
            )
        ]
        indexes = [
            # sweeper: scheduled tasks whose message was lost, running tasks with lapsed leases
            models.Index(fields=["task_hub", "status", "enqueued_at"], name="task_stale_idx"),
            models.Index(fields=["task_hub", "status", "lease_expires_at"], name="task_lease_idx"),
            models.Index(fields=["instance", "status"], name="task_instance_idx"),
            # limits: running tasks of an activity (slots), its waiting tasks round-robin
            # over instances. Partial: finished tasks (nearly all rows) are not in it.
            models.Index(
                fields=["task_hub", "name", "status", "instance", "id"],
                name="task_open_by_name_idx",
                condition=models.Q(status__in=[*OPEN]),
            ),
        ]


class ActivityLimitState(models.Model):
    """Per task hub and limited activity: the row each start locks (workflows/limits/admission.py).

    Slots are not stored: they are the activity's running tasks with a live lease, so a
    crashed worker's slot comes back when its lease expires.
    """

    task_hub = models.CharField(max_length=64)
    activity = models.CharField(max_length=200)
    # Round robin over instances: the pk of the instance whose task started last.
    last_instance = models.BigIntegerField(default=0)
    # Rate limit: starts per time slot, [[slot, count], ...] for the last period.
    recent_starts = models.JSONField(default=list)
    # A delayed wake-up (rate limit) is on its way for this time.
    wake_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)  # last start

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task_hub", "activity"], name="uniq_limit_state")
        ]

    def __str__(self) -> str:
        return f"{self.activity} ({self.task_hub})"


class Timer(models.Model):
    """A durable timer; the poller fires it once due (SKIP LOCKED on PostgreSQL)."""

    task_hub = models.CharField(max_length=64, default="default")
    # No index of its own: uniq_timer_per_execution leads with it.
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, related_name="timers", db_index=False
    )
    execution_id = models.CharField(max_length=64)
    task_id = models.PositiveIntegerField()
    fire_at = models.DateTimeField()
    purpose = models.CharField(max_length=32, default="timer")
    fired = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "execution_id", "task_id"], name="uniq_timer_per_execution"
            )
        ]
        indexes = [
            # the timer poller: unfired timers by due time
            models.Index(fields=["task_hub", "fired", "fire_at"], name="timer_due_idx"),
        ]


class ExternalEvent(models.Model):
    """Every event raised to an instance, with its sender and what became of it."""

    # No index of its own: uniq_event_id leads with it.
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    name = models.CharField(max_length=200)
    event_id = models.CharField(max_length=200, null=True, blank=True)
    data = PayloadField(null=True, blank=True, offload=True)
    sender = models.CharField(max_length=200, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=EventOutcome.choices)
    reason = PayloadTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instance", "event_id"], name="uniq_event_id")
        ]


class CompensationRecord(models.Model):
    """A compensable step's undo, registered by ``saga.add`` in the episode that ran it."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="compensations")
    execution_id = models.CharField(max_length=64)
    task_id = models.PositiveIntegerField()  # the registration's step in history
    # Stable id, passed to the compensation activity as its idempotency key.
    compensation_id = models.CharField(max_length=300, unique=True)
    step = models.CharField(max_length=200, blank=True, default="")
    activity = models.CharField(max_length=200)
    input = PayloadField(null=True, blank=True, offload=True)
    order = models.PositiveIntegerField()  # registration order, 1-based
    status = models.CharField(
        max_length=20, choices=CompensationStatus.choices, default=CompensationStatus.REGISTERED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = PayloadField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    resolution = models.CharField(max_length=20, blank=True, default="")  # retry/resolve/skip
    resolution_note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # the console: failed compensations first; the API filters by status
            models.Index(fields=["status", "updated_at"], name="comp_status_idx"),
        ]
        ordering = ["instance", "order"]


class ApprovalRequest(models.Model):
    """A human step: a group decides before a durable deadline."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="approvals")
    execution_id = models.CharField(max_length=64)
    task_id = models.PositiveIntegerField()
    request_id = models.CharField(max_length=300, unique=True)
    name = models.CharField(max_length=200)
    assignees = models.CharField(max_length=150)  # a Django auth Group name
    details = PayloadField(null=True, blank=True, offload=True)
    deadline = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # What the approvers' card shows (request_approval(title=, summary=)), and whether
    # rejecting needs a comment; all from the workflow's request.
    title = models.CharField(max_length=200, blank=True, default="")
    summary = PayloadField(null=True, blank=True)
    reason_required = models.BooleanField(default=False)
    # "I'm on it": the approver working on it, so two do not (approvals.claim).
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_approvals",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the approver inbox: pending requests of the user's groups, soonest deadline first
            models.Index(fields=["status", "assignees", "deadline"], name="approval_inbox_idx"),
        ]


class AuditEntry(models.Model):
    """Every operator or approver action: who, when, what, why."""

    instance = models.ForeignKey(
        Instance, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit"
    )
    instance_ref = models.CharField(max_length=200, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(max_length=200, blank=True, default="")
    action = models.CharField(max_length=40)
    detail = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["instance", "created_at"], name="audit_instance_idx")]


# -- bulk operations (docs/architecture.md, "Bulk operations") ---------------------------------


class BulkStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class BulkItemStatus(models.TextChoices):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"  # the target did not allow the action: the reason says why
    FAILED = "failed"  # an unexpected error: the reason holds it
    CANCELLED = "cancelled"  # the operation was cancelled before reaching it


class BulkOperation(models.Model):
    """One operator action over many instances (or failed compensations), done by workers
    chunk by chunk (workflows/bulk.py). Its targets are fixed when it is created: one
    BulkItem each."""

    task_hub = models.CharField(max_length=64, default="default")
    action = models.CharField(max_length=32)
    # What was asked for: the filter, or None when an explicit id list was given.
    filter = models.JSONField(null=True, blank=True)
    # Extra arguments of the action (raise_event: the event's name and data): a payload.
    parameters = PayloadField(default=dict, blank=True)
    reason = models.TextField()  # why (the shared note of compensation decisions)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=200)  # who: the user name, or "cli", ...
    status = models.CharField(max_length=16, choices=BulkStatus.choices, default=BulkStatus.RUNNING)
    matched = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    chunk_size = models.PositiveIntegerField(default=100)  # targets per transaction
    chunks = models.PositiveIntegerField(default=0)  # chunk transactions committed
    longest_chunk_ms = models.PositiveIntegerField(default=0)
    cancelled_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last chunk or wake-up: the sweeper wakes a running operation again when this is old.
    woken_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["task_hub", "created_at"], name="bulk_created_idx"),
            # the sweeper: running operations whose wake-up may have been lost
            models.Index(fields=["task_hub", "status", "woken_at"], name="bulk_running_idx"),
        ]

    def __str__(self) -> str:
        return f"bulk {self.action} #{self.pk} ({self.status})"


class BulkItem(models.Model):
    """One target of a bulk operation and what became of it. Not a foreign key to the
    instance: a purge deletes it, and the outcome must stay."""

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, related_name="items")
    target = models.CharField(max_length=200)  # the instance id, or the compensation record id
    instance_ref = models.CharField(max_length=200)  # the instance id (of the record)
    status = models.CharField(
        max_length=16, choices=BulkItemStatus.choices, default=BulkItemStatus.PENDING
    )
    reason = PayloadTextField(blank=True, default="")  # may quote failure text
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["operation", "target"], name="uniq_bulk_target")
        ]
        indexes = [
            # the next chunk (pending, in order) and the outcome lists by status
            models.Index(fields=["operation", "status", "id"], name="bulk_item_status_idx"),
        ]


class SavedView(models.Model):
    """A named console filter of one user (the console's query string)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=80)
    query = models.TextField(blank=True, default="")  # e.g. "status=failed&attr.customer=acme"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="uniq_saved_view_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


class OutcomeBucket(models.Model):
    """Completed and failed instances of one closed hour or day, counted once when it closed:
    the dashboard's chart reads these instead of recounting (workflows/ui/outcome_rollup.py)."""

    task_hub = models.CharField(max_length=64)
    unit = models.CharField(max_length=4)  # "hour" | "day"
    start = models.DateTimeField()  # the bucket's first moment, as Trunc gives it
    completed = models.PositiveIntegerField()
    failed = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["task_hub", "unit", "start"], name="uniq_outcome_bucket"
            )
        ]
