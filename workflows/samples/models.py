"""State of the fake outside services the samples call (see ``services.py``)."""

from __future__ import annotations

from django.db import models


class ServiceCall(models.Model):
    """One request to a fake service, keyed by the caller's idempotency key.

    ``executions`` counts the calls that got an answer: more than one means duplicates
    were absorbed (the effect, ``applied_at``, happened once). ``failures`` counts the
    calls a failure switch refused.
    """

    service = models.CharField(max_length=40)
    operation = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=300, unique=True)
    reference = models.CharField(max_length=200)  # the order, customer or deployment
    request = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    executions = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # what happened to one order / deployment; the monitor's readiness count
            models.Index(fields=["reference", "service", "operation"], name="call_reference_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.service}.{self.operation} {self.reference} ({self.executions}x)"
