"""Offloaded payloads go with their instance (docs/architecture.md, "Payloads").

Every purge path (``purge``, retention, replacing a finished instance) deletes an
instance through the ORM; the stored objects its rows reference are deleted after that
commits. Connected in ``WorkflowsConfig.ready``.
"""

from __future__ import annotations

from django.db import models
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from ..models import (
    ActivityTask,
    ApprovalRequest,
    CompensationRecord,
    ExternalEvent,
    HistoryEvent,
    Instance,
)
from . import offload
from .fields import PayloadField

# The instance's own rows that may hold offloaded payloads (deleted with it by cascade).
_INSTANCE_ROWS = (HistoryEvent, ActivityTask, ExternalEvent, CompensationRecord, ApprovalRequest)


def _offloaded_columns(model: type[models.Model]) -> list[str]:
    return [
        f.name for f in model._meta.concrete_fields if isinstance(f, PayloadField) and f.offload
    ]


@receiver(pre_delete, sender=Instance)
def delete_offloaded_payloads(sender: type[Instance], instance: Instance, **kwargs: object) -> None:
    """Delete, after commit, the stored objects of ``instance`` and of its own rows."""
    if not offload.may_hold_objects():
        return
    names = offload.refs_in_rows(
        Instance.objects.filter(pk=instance.pk), _offloaded_columns(Instance)
    )
    for model in _INSTANCE_ROWS:
        rows = model.objects.filter(instance_id=instance.pk)
        names += offload.refs_in_rows(rows, _offloaded_columns(model))
    offload.delete_after_commit(names, using=kwargs.get("using") or "default")
