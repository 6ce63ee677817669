"""Deciding approval requests (called through DurableClient)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .engine import events as ev
from .engine.approvals import approval_event_name
from .engine.errors import InvalidInput, InvalidState, NotAllowed
from .inbox import deliver
from .models import ApprovalRequest, AuditEntry
from .signals import notify_changed
from .statuses import TERMINAL, ApprovalStatus


@dataclass(frozen=True)
class Decision:
    """The outcome of a decide call: the (first) decision on the request."""

    approval_id: int
    status: str
    decided_by: str
    decided_at: datetime | None
    comment: str
    first: bool  # False when the request had been decided already


def may_decide(user: Any, approval: ApprovalRequest) -> bool:
    """Only members of the assignee group (or superusers) decide."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or user.groups.filter(name=approval.assignees).exists())


def _locked_for(user: Any, approval_id: int, hub: str, who: str) -> ApprovalRequest:
    """The request, row-locked, if it exists in ``hub`` and ``user`` may decide it."""
    approval = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("instance", who)
        .filter(pk=approval_id, instance__task_hub=hub)
        .first()
    )
    if approval is None:
        raise InvalidInput(f"No approval request {approval_id} exists.")
    if not may_decide(user, approval):
        raise NotAllowed(
            f"{getattr(user, 'username', user)} is not in group {approval.assignees!r}, "
            f"which decides {approval.name!r}."
        )
    return approval


def decide(
    approval_id: int, user: Any, approve: bool, comment: str = "", hub: str = ""
) -> Decision:
    """Record a decision and wake the workflow; refuse late, foreign or repeated ones."""
    if not isinstance(approve, bool):
        raise InvalidInput("approve must be true or false.")
    if not isinstance(comment, str) or len(comment) > 4000:
        raise InvalidInput("comment must be text of at most 4000 characters.")
    with transaction.atomic():
        approval = _locked_for(user, approval_id, hub, "decided_by")
        if approval.status in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED):
            return _decision(approval, first=False)
        now = timezone.now()
        if approval.status == ApprovalStatus.EXPIRED or (
            approval.deadline is not None and now >= approval.deadline
        ):
            when = (
                f"{approval.deadline:%Y-%m-%d %H:%M:%S} UTC"
                if approval.deadline
                else "its deadline"
            )
            raise InvalidState(
                f"The request {approval.name!r} expired at {when}; the decision was not recorded."
            )
        if approval.status == ApprovalStatus.CANCELLED or approval.instance.status in TERMINAL:
            raise InvalidState(
                f"The workflow {approval.instance.instance_id!r} already finished "
                f"({approval.instance.status}); the decision was not recorded."
            )
        if not approve and approval.reason_required and not comment.strip():
            raise InvalidInput(
                f"The workflow asks for a reason to reject {approval.name!r}: write it in "
                "the comment."
            )
        approval.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        approval.decided_by = user
        approval.decided_at = now
        approval.comment = comment
        # Only what changed: a full save would store offloaded details again.
        approval.save(update_fields=["status", "decided_by", "decided_at", "comment"])
        data = {
            "approved": approve,
            "decision": approval.status,
            "by": user.get_username(),
            "comment": comment,
            "at": now.isoformat(),
        }
        deliver(
            approval.instance,
            ev.EventRaised(approval_event_name(approval.task_id), data),
            dedup_key=f"approval:{approval.pk}",
            execution_id=approval.execution_id,
        )
        notify_changed(approval.instance)
        AuditEntry.objects.create(
            instance=approval.instance,
            instance_ref=approval.instance.instance_id,
            user=user,
            actor=user.get_username(),
            action="decide",
            note=comment,
            detail={"approval": approval.pk, "name": approval.name, "decision": approval.status},
        )
        return _decision(approval, first=True)


def claim(approval_id: int, user: Any, hub: str, release: bool = False) -> ApprovalRequest:
    """ "I'm on it": mark a pending request as worked on by ``user`` (or ``release`` it),
    so two approvers do not work the same one. Another's claim is not taken over; a
    claim does not stop the others from deciding (it says who is on it, nothing more).
    """
    with transaction.atomic():
        approval = _locked_for(user, approval_id, hub, "claimed_by")
        if approval.status != ApprovalStatus.PENDING:
            raise InvalidState(f"The request {approval.name!r} is {approval.status} already.")
        holder = approval.claimed_by
        if release:
            if holder is None or holder.pk != user.pk:
                return approval  # nothing of this person's to release
            approval.claimed_by, approval.claimed_at = None, None
        elif holder is not None and holder.pk != user.pk:
            raise InvalidState(
                f"{holder.get_username()} is already on {approval.name!r} (since "
                f"{approval.claimed_at:%H:%M:%S} UTC)."
            )
        elif holder is not None:
            return approval  # already this person's: a second click changes nothing
        else:
            approval.claimed_by, approval.claimed_at = user, timezone.now()
        approval.save(update_fields=["claimed_by", "claimed_at"])
        notify_changed(approval.instance)
        AuditEntry.objects.create(
            instance=approval.instance,
            instance_ref=approval.instance.instance_id,
            user=user,
            actor=user.get_username(),
            action="release" if release else "claim",
            detail={"approval": approval.pk, "name": approval.name},
        )
        return approval


def _decision(approval: ApprovalRequest, first: bool) -> Decision:
    return Decision(
        approval.pk,
        approval.status,
        approval.decided_by.get_username() if approval.decided_by else "",
        approval.decided_at,
        approval.comment,
        first,
    )
