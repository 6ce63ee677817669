"""DurableClient's approval requests: list them, claim one ("I'm on it"), decide.

A mixin of :class:`workflows.client.DurableClient`, kept in its own module so client.py
stays readable; callers use ``DurableClient().decide(...)`` like any client method. Who
may decide: the request's group's members, or superusers (workflows/approvals.py).

Example::

    client = DurableClient()
    request = client.approvals(user=alice, status="pending").first()
    client.claim_approval(request.pk, alice)
    client.decide(request.pk, alice, approve=True, comment="fine")
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from . import approvals
from .engine.errors import InvalidInput
from .models import ApprovalRequest
from .rules import MAX_NOTE_LENGTH, check_instance_id, check_text
from .statuses import ApprovalStatus


class ApprovalOperations:
    hub: str

    def approvals(
        self,
        user: Any = None,
        instance_id: str | None = None,
        status: str | None = None,
    ) -> QuerySet[ApprovalRequest]:
        """Approval requests (of the user's groups when a non-superuser is given).

        Example: ``client.approvals(user=request.user, status="pending")``
        """
        qs = ApprovalRequest.objects.filter(instance__task_hub=self.hub).select_related(
            "instance", "decided_by"
        )
        if user is not None and not user.is_superuser:
            qs = qs.filter(assignees__in=list(user.groups.values_list("name", flat=True)))
        if instance_id is not None:
            qs = qs.filter(instance__instance_id=check_instance_id(instance_id, "instance id"))
        if status is not None:
            if status not in ApprovalStatus.values:
                raise InvalidInput(
                    f"Unknown approval status {status!r}; use one of "
                    f"{', '.join(ApprovalStatus.values)}."
                )
            qs = qs.filter(status=status)
        return qs.order_by("deadline", "pk")

    def claim_approval(self, approval_id: int, user: Any, release: bool = False) -> Any:
        """Say "I'm on it" on a pending request, or release it: ``claim_approval(7, user)``."""
        return approvals.claim(approval_id, user, self.hub, release)

    def decide(
        self, approval_id: int, user: Any, approve: bool, comment: str = ""
    ) -> approvals.Decision:
        """Approve or reject a request; only its group's members (or superusers) may.

        A second decision answers with the first one; a decision after the deadline or
        after the workflow finished is refused and changes nothing.

        Example: ``client.decide(7, alice, approve=False, comment="budget")``
        """
        comment = check_text("" if comment is None else comment, "comment", MAX_NOTE_LENGTH)
        return approvals.decide(approval_id, user, approve, comment, self.hub)
