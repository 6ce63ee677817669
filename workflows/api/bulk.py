"""/api/v1/bulk-operations/: one operator action over many instances or failed
compensations, carried out by workers in chunks (docs/architecture.md, "Bulk operations").

Every call needs ``workflows.operate_instance`` (as each single action does), checked on
every request; a bulk ``raise_event`` also needs ``workflows.raise_event``. Creating
answers 202 with the operation's URL in ``Location``: it answers 202 while the operation
runs and 200 once it completed or was cancelled. ``"dry_run": true`` answers what the
selection matches now, changing nothing. Like the rest of the API this goes through
DurableClient only.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ..bulk_client import ACTIONS, BulkItemStatus, BulkStatus
from ..rules import MAX_NOTE_LENGTH
from ..statuses import InstanceStatus
from . import schema as doc
from .fields import Payload, QueryWholeNumber, StrictBoolean, StrictSerializer, Text, WholeNumber
from .pagination import page
from .permissions import OPERATE
from .responses import accepted, still_running
from .serializers import valid_cursor
from .validators import check_payload, check_record_id, valid_id
from .views import DurableAPIView

MAX_IDS = 10_000

OPERATION_ID = OpenApiParameter(
    "operation_id",
    {"type": "integer", "minimum": 1, "maximum": 10**18 - 1},
    OpenApiParameter.PATH,
    description="Bulk operation id (`id` of the operation).",
)
_TEXTS = {
    403: "Without `workflows.operate_instance` (a bulk `raise_event`: also `raise_event`).",
    404: "No such bulk operation.",
    409: "The operation already finished, or the selection no longer matches `expected_count`.",
}


def _text(what: str) -> Any:
    return lambda value: check_payload(value, what)


# -- request and queries --------------------------------------------------------------------


class BulkFilter(StrictSerializer):
    """Which targets: instances like `GET /instances/` filters them; for compensation
    actions the failed records of a workflow `name`, an `activity` or an `instance_id`."""

    name = Text(required=False, max_length=200, help_text="Orchestrator (workflow) name.")
    status = serializers.ListField(
        child=serializers.ChoiceField(
            choices=InstanceStatus.choices,
            error_messages={
                "invalid_choice": f'"{{input}}" is not a status; use {", ".join(InstanceStatus)}.'
            },
        ),
        required=False,
        max_length=len(InstanceStatus.choices),
        help_text="Instances in any of these statuses.",
    )
    business_key = Text(required=False, max_length=200)
    created_after = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")
    created_before = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")
    needs_attention = StrictBoolean(required=False)
    search = Text(required=False, max_length=200, help_text="Substring of id, name or key.")
    activity = Text(
        required=False, max_length=200, help_text="Compensation actions: the undo activity."
    )
    instance_id = Text(
        required=False,
        validators=[valid_id],
        help_text="Compensation actions: the records of one instance.",
    )


class BulkRequest(StrictSerializer):
    """A bulk operation: the action, its targets (`filter`, `instance_ids` or
    `compensation_ids`: exactly one) and why."""

    action = serializers.ChoiceField(
        choices=list(ACTIONS),
        help_text="terminate, suspend, resume, rewind, retry_episode, restart, purge, "
        "raise_event; compensation_retry, compensation_resolve, compensation_skip.",
    )
    filter = BulkFilter(required=False, help_text="Targets matching it now (fixed at creation).")
    instance_ids = serializers.ListField(
        child=Text(validators=[valid_id]),
        required=False,
        min_length=1,
        max_length=MAX_IDS,
        help_text="Instance actions: these instances.",
    )
    compensation_ids = serializers.ListField(
        child=WholeNumber(min_value=1, max_value=10**18 - 1),
        required=False,
        min_length=1,
        max_length=MAX_IDS,
        help_text="Compensation actions: these records.",
    )
    reason = Text(
        required=False,
        allow_blank=True,
        max_length=MAX_NOTE_LENGTH,
        default="",
        validators=[_text("reason")],
        help_text="Required unless dry_run: why (every changed instance's audit entry keeps "
        "it; the shared note of compensation decisions). At most 1000 characters for "
        "instance actions.",
    )
    event_name = Text(required=False, max_length=200, help_text="raise_event: the event's name.")
    event_data = Payload("event data", help_text="raise_event: the event's data.")
    dry_run = StrictBoolean(
        required=False, default=False, help_text="Answer what matches now; change nothing."
    )
    expected_count = WholeNumber(
        required=False,
        min_value=0,
        max_value=10**9,
        help_text="Refuse (409) unless the selection still matches this many targets.",
    )


class BulkListQuery(serializers.Serializer):
    limit = QueryWholeNumber(required=False, min_value=1, max_value=500, default=50)
    cursor = Text(required=False, validators=[valid_cursor], help_text="next_cursor of a page.")


class OutcomeQuery(BulkListQuery):
    status = serializers.ChoiceField(
        choices=BulkItemStatus.choices,
        required=False,
        help_text="Only outcomes of this kind.",
        error_messages={
            "invalid_choice": f'"{{input}}" is not an outcome; use {", ".join(BulkItemStatus)}.'
        },
    )


class CancelRequest(StrictSerializer):
    reason = Text(
        required=False,
        allow_blank=True,
        max_length=1000,
        default="",
        validators=[_text("reason")],
        help_text="Why (kept with the cancelled targets and in the audit log).",
    )


# -- responses ------------------------------------------------------------------------------


def operation_url(request: Request, operation_id: int, part: str = "") -> str:
    url = reverse("durable-api:bulk-operation", args=[operation_id], request=request)
    return f"{url}{part}/" if part else url


class CountsSerializer(serializers.Serializer):
    matched = serializers.IntegerField(help_text="Targets fixed when it was created.")
    done = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Did not allow the action (see outcomes).")
    failed = serializers.IntegerField(help_text="An unexpected error (see outcomes).")
    cancelled = serializers.IntegerField(help_text="Not reached: the operation was cancelled.")
    pending = serializers.IntegerField()


class BulkLinksSerializer(serializers.Serializer):
    status = serializers.URLField()
    outcomes = serializers.URLField()
    cancel = serializers.URLField(help_text="POST, while running.")


class BulkOperationSerializer(serializers.Serializer):
    """A bulk operation: what, who, why, and how far."""

    id = serializers.IntegerField()
    action = serializers.CharField()
    status = serializers.ChoiceField(choices=BulkStatus.choices)
    filter = serializers.JSONField(allow_null=True, help_text="null: ids were listed.")
    event_name = serializers.CharField(allow_null=True)
    event_data = serializers.JSONField(
        required=False, allow_null=True, help_text="Only with `workflows.view_payloads`."
    )
    reason = serializers.CharField()
    created_by = serializers.CharField(source="actor")
    cancelled_by = serializers.CharField()
    counts = serializers.SerializerMethodField()
    percent = serializers.IntegerField(help_text="Of the targets, how many were processed.")
    chunks = serializers.IntegerField(help_text="Chunk transactions committed so far.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    links = serializers.SerializerMethodField()

    def to_representation(self, state: Any) -> dict[str, Any]:
        data = super().to_representation(state)
        data["event_name"] = state.parameters.get("event_name")
        if self.context.get("show_payloads"):
            data["event_data"] = state.parameters.get("event_data")
        else:
            data.pop("event_data", None)
        return data

    @extend_schema_field(CountsSerializer)
    def get_counts(self, state: Any) -> dict[str, int]:
        return {
            "matched": state.matched,
            "done": state.done,
            "skipped": state.skipped,
            "failed": state.failed,
            "cancelled": state.cancelled,
            "pending": state.pending,
        }

    @extend_schema_field(BulkLinksSerializer)
    def get_links(self, state: Any) -> dict[str, str]:
        request = self.context["request"]
        return {
            "status": operation_url(request, state.id),
            "outcomes": operation_url(request, state.id, "outcomes"),
            "cancel": operation_url(request, state.id, "cancel"),
        }


class BulkPreviewSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=True)
    action = serializers.CharField()
    matched = serializers.IntegerField(help_text="Targets the selection matches now.")
    allowed = serializers.IntegerField(help_text="Of those, in a status the action applies to.")
    by_status = serializers.DictField(child=serializers.IntegerField())
    unknown = serializers.ListField(
        child=serializers.CharField(), help_text="Listed ids that match nothing."
    )
    sample = serializers.ListField(
        child=serializers.DictField(), help_text="The first targets: ids, names, statuses."
    )


class BulkPageSerializer(serializers.Serializer):
    results = BulkOperationSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    next = serializers.URLField(allow_null=True)


class OutcomeSerializer(serializers.Serializer):
    target = serializers.CharField(help_text="Instance id, or compensation record id.")
    instance_id = serializers.CharField()
    status = serializers.ChoiceField(choices=BulkItemStatus.choices)
    reason = serializers.CharField(help_text="Why it was skipped, failed or cancelled.")
    finished_at = serializers.DateTimeField(allow_null=True)


class OutcomePageSerializer(serializers.Serializer):
    results = OutcomeSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    next = serializers.URLField(allow_null=True)


# -- views ----------------------------------------------------------------------------------


class BulkAPIView(DurableAPIView):
    required_permissions = {"GET": OPERATE, "POST": OPERATE}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if "operation_id" in kwargs:  # malformed: 400 before anything is looked up
            check_record_id(kwargs["operation_id"], "bulk operation id")

    def operation(self, state: Any) -> dict[str, Any]:
        return BulkOperationSerializer(state, context=self.context()).data


class BulkOperationsView(BulkAPIView):
    @extend_schema(
        operation_id="bulk_operations_list",
        summary="Bulk operations",
        tags=["bulk operations"],
        description="Newest first; follow `next` for the next page. Needs "
        "`workflows.operate_instance`.",
        parameters=[BulkListQuery],
        responses={200: BulkPageSerializer, **doc.errors(400, texts=_TEXTS)},
    )
    def get(self, request: Request) -> Response:
        query = self.valid_query(BulkListQuery)
        found = self.client.bulk_operations(
            limit=query["limit"], cursor=query.get("cursor"), user=request.user
        )
        results = [self.operation(state) for state in found.items]
        return Response(page(request, results, found.next_cursor))

    @extend_schema(
        operation_id="bulk_operations_start",
        summary="Start a bulk operation",
        tags=["bulk operations"],
        description=(
            "One action over many targets: the `filter` (as `GET /instances/` filters; "
            "compensation actions: failed records by workflow `name`, `activity` or "
            "`instance_id`), or the listed `instance_ids` / `compensation_ids`. The targets "
            "are fixed now; workers change them in chunks, each target as its single action "
            "would (a target that does not allow it is *skipped* with the reason). Answers "
            "202 with `Location`: poll it (202 while running, 200 when done). With "
            '`"dry_run": true`, 200 with what matches now and nothing changes. Needs '
            "`workflows.operate_instance` (`raise_event` also `workflows.raise_event`)."
        ),
        request=BulkRequest,
        parameters=[doc.LOCATION, doc.RETRY_AFTER],
        responses={
            202: OpenApiResponse(BulkOperationSerializer, description="Started."),
            200: OpenApiResponse(BulkPreviewSerializer, description="Dry run: nothing changed."),
            **doc.errors(400, 409, 413, 415, texts=_TEXTS),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.valid(BulkRequest, request.data)
        targets = {
            key: body[key] for key in ("filter", "instance_ids", "compensation_ids") if key in body
        }
        if "filter" in targets:
            targets["filter"] = dict(targets["filter"])
        if body["dry_run"]:
            found = self.client.preview_bulk(body["action"], **targets, user=request.user)
            return Response({"dry_run": True, **BulkPreviewSerializer(found).data})
        state = self.client.start_bulk(
            body["action"],
            **targets,
            reason=body["reason"],
            by=request.user,
            event_name=body.get("event_name"),
            event_data=body["event_data"],
            expected_count=body.get("expected_count"),
        )
        return accepted(self.operation(state), operation_url(request, state.id))


class BulkOperationView(BulkAPIView):
    @extend_schema(
        operation_id="bulk_operation_status",
        summary="A bulk operation's progress",
        tags=["bulk operations"],
        description="202 with `Retry-After` while it runs; 200 once completed or cancelled. "
        "Needs `workflows.operate_instance`.",
        parameters=[OPERATION_ID, doc.RETRY_AFTER],
        responses={
            200: OpenApiResponse(BulkOperationSerializer, description="Finished."),
            202: OpenApiResponse(BulkOperationSerializer, description="Running; poll again."),
            **doc.errors(400, 404, texts=_TEXTS),
        },
    )
    def get(self, request: Request, operation_id: str) -> Response:
        state = self.client.bulk_operation(int(operation_id), user=request.user)
        if state.is_finished:
            return Response(self.operation(state))
        return still_running(self.operation(state))


class BulkOutcomesView(BulkAPIView):
    @extend_schema(
        operation_id="bulk_operation_outcomes",
        summary="A bulk operation's outcomes",
        tags=["bulk operations"],
        description="Each target in processing order: done, skipped or failed (with the "
        "reason), cancelled, or still pending; `?status=` keeps one kind. Follow `next`. "
        "Needs `workflows.operate_instance`.",
        parameters=[OPERATION_ID, OutcomeQuery],
        responses={200: OutcomePageSerializer, **doc.errors(400, 404, texts=_TEXTS)},
    )
    def get(self, request: Request, operation_id: str) -> Response:
        query = self.valid_query(OutcomeQuery)
        found = self.client.bulk_outcomes(
            int(operation_id),
            status=query.get("status"),
            limit=query["limit"],
            cursor=query.get("cursor"),
            user=request.user,
        )
        results = OutcomeSerializer(found.items, many=True).data
        return Response(page(request, results, found.next_cursor))


class BulkCancelView(BulkAPIView):
    @extend_schema(
        operation_id="bulk_operation_cancel",
        summary="Cancel a bulk operation",
        tags=["bulk operations"],
        description="Targets not reached yet are cancelled; a chunk in progress finishes "
        "first. 409 once it finished. Needs `workflows.operate_instance`.",
        parameters=[OPERATION_ID],
        request=CancelRequest,
        responses={200: BulkOperationSerializer, **doc.errors(400, 404, 409, 415, texts=_TEXTS)},
    )
    def post(self, request: Request, operation_id: str) -> Response:
        reason = self.valid(CancelRequest, request.data)["reason"]
        state = self.client.cancel_bulk(int(operation_id), by=request.user, reason=reason)
        return Response(self.operation(state), status=status.HTTP_200_OK)
