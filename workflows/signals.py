"""Django signals: hooks for alerting (connect a receiver to page someone).

Example::

    from django.dispatch import receiver
    from workflows.signals import compensation_failed

    @receiver(compensation_failed)
    def page_on_call(sender, record, instance, **kwargs):
        pager.alert(f"{instance.instance_id}: {record.activity} failed")
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

# Sent after commit when a compensation failed for good; kwargs: record, instance.
compensation_failed = Signal()
# Sent after commit when a workflow asks people for a decision; kwargs: approval, instance.
approval_requested = Signal()
# Sent after commit whenever an instance's state changed (episode, operator action,
# decision); kwargs: instance_pk, instance_id, status. The UI pushes live updates on it.
instance_changed = Signal()


def notify_changed(instance) -> None:  # noqa: ANN001 - a workflows.models.Instance
    """Send :data:`instance_changed` once the current transaction commits."""
    pk, iid, status = instance.pk, instance.instance_id, instance.status
    transaction.on_commit(
        lambda: instance_changed.send(
            sender=type(instance), instance_pk=pk, instance_id=iid, status=status
        )
    )
