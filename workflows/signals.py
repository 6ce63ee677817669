"""Django signals: hooks for alerting (connect a receiver to page someone).

Example::

    from django.dispatch import receiver
    from workflows.signals import compensation_failed

    @receiver(compensation_failed)
    def page_on_call(sender, record, instance, **kwargs):
        pager.alert(f"{instance.instance_id}: {record.activity} failed")
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit when a compensation failed for good; kwargs: record, instance.
compensation_failed = Signal()
# Sent after commit when a workflow asks people for a decision; kwargs: approval, instance.
approval_requested = Signal()
