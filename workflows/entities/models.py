"""The entities' tables (docs/architecture.md, "Data model" and "Entities").

``Entity`` is one entity's durable state, its version (one more per batch) and its lock
holder; ``EntityOperation`` is the queue of operations not yet applied (deleted by the
batch that applies them); ``EntityOperationLog`` keeps the recent applied ones (the
console's "recent operations", and the de-duplication of signals with a ``signal_id``).
"""

from __future__ import annotations

from django.db import models

from ..payloads.fields import PayloadField, PayloadTextField

SIGNAL_ENTITY = "signal_entity"
LOG_KEEP = 100  # applied operations kept per entity


class Entity(models.Model):
    task_hub = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    exists = models.BooleanField(default=False)  # False: no state (new, or deleted)
    state = PayloadField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)  # batches applied
    lock_holder = models.CharField(max_length=200, blank=True, default="")  # instance id
    operations_applied = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_operation_at = models.DateTimeField(null=True, blank=True)
    # The sweeper's last re-send: an entity merely queued behind a backlog is woken again
    # at most once per DURABLE_REDELIVER_AFTER_SECONDS (entities/wakeups.wake_stalled).
    woken_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task_hub", "name", "key"], name="entity_unique_id")
        ]
        indexes = [
            # list_entities(name=...) in key order
            models.Index(fields=["task_hub", "name", "key"], name="entity_hub_name_idx"),
        ]
        permissions = [(SIGNAL_ENTITY, "Can signal entities")]

    def __str__(self) -> str:
        return f"@{self.name}@{self.key}"


class EntityOperation(models.Model):
    """A queued operation; applied in primary-key order (each sender's order is kept)."""

    # No index of its own: entity_op_dedup leads with it.
    entity = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="queue", db_index=False
    )
    kind = models.CharField(max_length=10)  # signal, call, lock, unlock
    operation = models.CharField(max_length=100)
    input = PayloadField(null=True, blank=True)
    # An instance id, "@name@key" of an entity, or "" (from outside: API, CLI, code).
    sender = models.CharField(max_length=200, blank=True, default="")
    execution_id = models.CharField(max_length=64, blank=True, default="")
    task_id = models.IntegerField(null=True, blank=True)  # where a call's answer goes
    dedup_key = models.CharField(max_length=300, null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entity", "dedup_key"], name="entity_op_dedup")
        ]
        indexes = [
            # the sweeper's "queued for a while": operations oldest first
            models.Index(fields=["created_at"], name="entity_op_created_idx"),
        ]


class EntityOperationLog(models.Model):
    """An applied operation (the newest LOG_KEEP per entity are kept)."""

    # No index of its own: entity_log_dedup_idx leads with it.
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="log", db_index=False)
    kind = models.CharField(max_length=10)
    operation = models.CharField(max_length=100)
    sender = models.CharField(max_length=200, blank=True, default="")
    dedup_key = models.CharField(max_length=300, null=True, blank=True)
    ok = models.BooleanField(default=True)
    error = PayloadTextField(blank=True, default="")
    applied_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["entity", "dedup_key"], name="entity_log_dedup_idx"),
        ]
