"""/api/v1/approvals/: the caller's approval requests, and deciding them
(docs/architecture.md, "REST API").

Approvals are decided only by their assignees (docs/architecture.md, "Who may do what"):
members of the Django group named in ``assignees``, and superusers. No other permission
is needed, and none lets anybody else decide. Like the rest of the API this goes through
DurableClient only.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ..client import may_see_every_instance
from ..statuses import ApprovalStatus
from . import schema as doc
from .fields import QueryWholeNumber, StrictBoolean, StrictSerializer, Text
from .links import status_url
from .pagination import page, queryset_page
from .serializers import valid_cursor
from .validators import check_payload, check_record_id, valid_id
from .views import DurableAPIView

MAX_COMMENT = 4000

APPROVAL_ID = OpenApiParameter(
    "approval_id",
    {"type": "integer", "minimum": 1, "maximum": 10**18 - 1},
    OpenApiParameter.PATH,
    description="Approval request id (`id` in the list).",
)

_TEXTS = {
    403: "Not in the group that decides this request (`assignees`), nor a superuser.",
    404: "No such approval request.",
    409: "The request expired, or its workflow already finished: nothing was recorded.",
}


def _text(what: str) -> Any:
    return lambda value: check_payload(value, what)


# -- request and query ------------------------------------------------------------------------


class DecisionRequest(StrictSerializer):
    """Approve or reject."""

    approve = StrictBoolean(help_text="true approves, false rejects.")
    comment = Text(
        required=False,
        allow_blank=True,
        max_length=MAX_COMMENT,
        default="",
        validators=[_text("comment")],
        help_text="Why; the workflow receives it with the decision.",
    )


class ApprovalFilter(serializers.Serializer):
    instance = Text(required=False, validators=[valid_id], help_text="Instance id.")
    status = serializers.ChoiceField(
        choices=ApprovalStatus.choices,
        required=False,
        help_text="Only requests in this status (`pending` for what still waits for you).",
        error_messages={
            "invalid_choice": f'"{{input}}" is not an approval status; use '
            f"{', '.join(ApprovalStatus)}."
        },
    )
    limit = QueryWholeNumber(required=False, min_value=1, max_value=500, default=50)
    cursor = Text(required=False, validators=[valid_cursor], help_text="next_cursor of a page.")


# -- responses ----------------------------------------------------------------------------------


class ApprovalSerializer(serializers.Serializer):
    """One approval request. ``details`` only for its assignees and view_payloads holders."""

    id = serializers.IntegerField(source="pk")
    instance_id = serializers.CharField(source="instance.instance_id")
    workflow = serializers.CharField(source="instance.name", help_text="Orchestrator name.")
    name = serializers.CharField(help_text="What is to be approved, e.g. `expense`.")
    title = serializers.CharField(
        help_text="The card's title the workflow gave (request_approval(title=)); may be empty."
    )
    summary = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="{label: value}: the few fields the card shows (request_approval(summary=)); "
        "like details, only for assignees and holders of `workflows.view_payloads`.",
    )
    reason_required = serializers.BooleanField(help_text="Rejecting needs a comment.")
    assignees = serializers.CharField(help_text="The group whose members decide.")
    assigned_to_you = serializers.SerializerMethodField(
        help_text="You are in that group (or a superuser)."
    )
    details = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="What the workflow shows the approver; only for assignees and holders of "
        "`workflows.view_payloads`.",
    )
    deadline = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=ApprovalStatus.choices)
    decided_by = serializers.SerializerMethodField()
    decided_at = serializers.DateTimeField(allow_null=True)
    comment = serializers.CharField()
    claimed_by = serializers.SerializerMethodField(
        help_text='Who said "I\'m on it" (POST claim), or null.'
    )
    claimed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField(help_text="POST the decision here.")
    claim = serializers.SerializerMethodField(help_text="POST to claim, DELETE to release.")
    instance = serializers.SerializerMethodField(help_text="Status URL of the instance.")

    def get_assigned_to_you(self, approval: Any) -> bool:
        return assigned(self.context, approval)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_decided_by(self, approval: Any) -> str | None:
        return approval.decided_by.get_username() if approval.decided_by else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_claimed_by(self, approval: Any) -> str | None:
        return approval.claimed_by.get_username() if approval.claimed_by else None

    @extend_schema_field(serializers.URLField())
    def get_claim(self, approval: Any) -> str:
        return approval_url(self.context["request"], approval.pk, "claim")

    @extend_schema_field(serializers.URLField())
    def get_url(self, approval: Any) -> str:
        return approval_url(self.context["request"], approval.pk)

    @extend_schema_field(serializers.URLField())
    def get_decision(self, approval: Any) -> str:
        return approval_url(self.context["request"], approval.pk, "decision")

    @extend_schema_field(serializers.URLField())
    def get_instance(self, approval: Any) -> str:
        return status_url(self.context["request"], approval.instance.instance_id)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not (assigned(self.context, instance) or self.context.get("show_payloads")):
            data.pop("details", None)
            data.pop("summary", None)
        return data


class ApprovalPageSerializer(serializers.Serializer):
    results = ApprovalSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, or null at the end.")


class DecisionSerializer(serializers.Serializer):
    approval_id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=[ApprovalStatus.APPROVED, ApprovalStatus.REJECTED],
        help_text="The decision on record.",
    )
    decided_by = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    comment = serializers.CharField()
    first = serializers.BooleanField(
        help_text="false when the request had been decided already: the answer is that first "
        "decision, and yours was not recorded."
    )


def assigned(context: dict[str, Any], approval: Any) -> bool:
    return bool(context.get("superuser") or approval.assignees in context.get("groups", ()))


def approval_url(request: Request, approval_id: int, action: str = "") -> str:
    name = f"durable-api:approval-{action}" if action else "durable-api:approval"
    return reverse(name, kwargs={"approval_id": approval_id}, request=request)


# -- views --------------------------------------------------------------------------------------


class ApprovalAPIView(DurableAPIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if "approval_id" in kwargs:
            check_record_id(kwargs["approval_id"], "approval id")

    def context(self) -> dict[str, Any]:
        user = self.request.user
        return {
            **super().context(),
            "superuser": user.is_superuser,
            "groups": set(user.groups.values_list("name", flat=True)),
        }

    def approval(self, approval_id: str) -> Any:
        """Any approval request of this task hub by id, or a 404."""
        found = self.client.approvals().filter(pk=int(approval_id)).first()
        if found is None:
            raise NotFound(f"No approval request {approval_id} exists.")
        return found


class ApprovalsView(ApprovalAPIView):
    @extend_schema(
        operation_id="approvals_list",
        summary="Your approval requests",
        tags=["approvals"],
        description=(
            "Requests assigned to a group you are in (all of them for a superuser), newest "
            "first (highest id first); `?status=pending` for what still waits for you. "
            "Follow `next` for the next page."
        ),
        parameters=[ApprovalFilter],
        responses={200: ApprovalPageSerializer, **doc.errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = self.valid_query(ApprovalFilter)
        rows = self.client.approvals(
            user=request.user, instance_id=query.get("instance"), status=query.get("status")
        )
        found, next_cursor = queryset_page(rows, query.get("cursor"), query["limit"])
        results = ApprovalSerializer(found, many=True, context=self.context()).data
        return Response(page(request, results, next_cursor))


class ApprovalView(ApprovalAPIView):
    @extend_schema(
        operation_id="approval_detail",
        summary="One approval request",
        tags=["approvals"],
        description=(
            "For its assignees, and for those who may see every instance "
            "(`workflows.view_instance` or `workflows.operate_instance`); `details` need an "
            "assignee or `workflows.view_payloads`."
        ),
        parameters=[APPROVAL_ID],
        responses={
            200: ApprovalSerializer,
            **doc.errors(400, 404, texts={**_TEXTS, 403: "Not an assignee nor a viewer."}),
        },
    )
    def get(self, request: Request, approval_id: str) -> Response:
        approval = self.approval(approval_id)
        context = self.context()
        # Seeing a request shows its instance (id, business key): the instances' rule.
        if not (assigned(context, approval) or may_see_every_instance(request.user)):
            raise PermissionDenied(
                f"Approval request {approval.pk} is for group {approval.assignees!r}, "
                "which you are not in; others need workflows.view_instance."
            )
        return Response(ApprovalSerializer(approval, context=context).data)


class DecisionView(ApprovalAPIView):
    @extend_schema(
        operation_id="approval_decide",
        summary="Approve or reject",
        tags=["approvals"],
        description=(
            "Only members of the request's group (`assignees`) and superusers decide; no "
            "other permission is needed. 200 with the decision, which wakes the workflow. "
            "When the request had been decided already, 200 with that first decision and "
            '`"first": false` (nothing changes). 409 when it expired or its workflow '
            "already finished."
        ),
        parameters=[APPROVAL_ID],
        request=DecisionRequest,
        responses={200: DecisionSerializer, **doc.errors(400, 404, 409, 415, texts=_TEXTS)},
    )
    def post(self, request: Request, approval_id: str) -> Response:
        body = self.valid(DecisionRequest, request.data)
        approval = self.approval(approval_id)
        decision = self.client.decide(approval.pk, request.user, body["approve"], body["comment"])
        return Response(DecisionSerializer(decision).data)


_CLAIM_TEXTS = {
    **_TEXTS,
    409: "The request is decided, expired or cancelled, or another approver claimed it "
    "(the message says who): nothing changed.",
}


class ClaimView(ApprovalAPIView):
    """ "I'm on it": the same rules as the approvals page (approvals.claim)."""

    @extend_schema(
        operation_id="approval_claim",
        summary='Claim a request ("I\'m on it")',
        tags=["approvals"],
        description=(
            "Only the request's assignees and superusers. Marks a pending request as yours so "
            "two approvers do not work the same one; claiming your own claim again changes "
            "nothing. Another's claim is not taken over (409 naming them). A claim does not "
            "stop the others from deciding."
        ),
        parameters=[APPROVAL_ID],
        request=None,
        responses={200: ApprovalSerializer, **doc.errors(400, 403, 404, 409, texts=_CLAIM_TEXTS)},
    )
    def post(self, request: Request, approval_id: str) -> Response:
        return self._claim(request, approval_id, release=False)

    @extend_schema(
        operation_id="approval_release",
        summary="Release your claim",
        tags=["approvals"],
        description=(
            "Only the request's assignees and superusers. Releases your own claim; without "
            "one (or with another's) nothing changes."
        ),
        parameters=[APPROVAL_ID],
        responses={200: ApprovalSerializer, **doc.errors(400, 403, 404, 409, texts=_CLAIM_TEXTS)},
    )
    def delete(self, request: Request, approval_id: str) -> Response:
        return self._claim(request, approval_id, release=True)

    def _claim(self, request: Request, approval_id: str, release: bool) -> Response:
        approval = self.approval(approval_id)
        claimed = self.client.claim_approval(approval.pk, request.user, release=release)
        return Response(ApprovalSerializer(claimed, context=self.context()).data)
