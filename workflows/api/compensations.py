"""/api/v1/compensations/: saga compensations, and deciding failed ones
(docs/architecture.md, "REST API").

An operators' tool: every call needs ``workflows.operate_instance`` (docs/architecture.md,
"Who may do what", puts compensation decisions under operate); ``input`` and
``last_error`` appear only with ``workflows.view_payloads``. Decisions are recorded under
the calling user.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ..statuses import CompensationStatus
from . import schema as doc
from .fields import QueryWholeNumber, StrictSerializer, Text
from .links import status_url
from .pagination import page, queryset_page
from .permissions import OPERATE
from .serializers import valid_cursor
from .validators import check_payload, check_record_id, valid_id
from .views import DurableAPIView

MAX_NOTE = 4000
ACTIONS = ("retry", "resolve", "skip")

RECORD_ID = OpenApiParameter(
    "record_id",
    {"type": "integer", "minimum": 1, "maximum": 10**18 - 1},
    OpenApiParameter.PATH,
    description="Compensation record id (`id` in the list).",
)

_TEXTS = {
    403: "Without `workflows.operate_instance`.",
    404: "No such compensation record.",
    409: "The compensation has not failed, or its workflow no longer waits for a decision.",
}


def _check_note(value: str) -> str:
    return check_payload(value, "note")


# -- requests and query -------------------------------------------------------------------------


class NoteRequest(StrictSerializer):
    """An optional note (kept in the record and the audit log)."""

    note = Text(
        required=False,
        allow_blank=True,
        max_length=MAX_NOTE,
        default="",
        validators=[_check_note],
        help_text="Why (kept with the record and in the audit log).",
    )


class RequiredNoteRequest(StrictSerializer):
    """A note saying what was done by hand, or why the undo is given up."""

    note = Text(
        min_length=1,
        max_length=MAX_NOTE,
        validators=[_check_note],
        help_text="Required: what was done by hand, or why nothing needs undoing.",
    )

    def validate_note(self, value: str) -> str:
        if not value.strip():
            raise ValidationError("A note is required: say what was done.")
        return value


class CompensationFilter(serializers.Serializer):
    instance = Text(required=False, validators=[valid_id], help_text="Instance id.")
    status = serializers.ChoiceField(
        choices=CompensationStatus.choices,
        required=False,
        help_text="Only records in this status (`failed` for those waiting for a person).",
        error_messages={
            "invalid_choice": f'"{{input}}" is not a compensation status; use '
            f"{', '.join(CompensationStatus)}."
        },
    )
    limit = QueryWholeNumber(required=False, min_value=1, max_value=500, default=50)
    cursor = Text(required=False, validators=[valid_cursor], help_text="next_cursor of a page.")


# -- responses ----------------------------------------------------------------------------------

_PAYLOADS = ("input", "last_error")


class CompensationSerializer(serializers.Serializer):
    """One registered undo step of a saga."""

    id = serializers.IntegerField(source="pk")
    instance_id = serializers.CharField(source="instance.instance_id")
    workflow = serializers.CharField(source="instance.name", help_text="Orchestrator name.")
    compensation_id = serializers.CharField(help_text="Idempotency key of the undo activity.")
    step = serializers.CharField()
    activity = serializers.CharField(help_text="The compensation activity.")
    order = serializers.IntegerField(help_text="Registration order, 1-based.")
    status = serializers.ChoiceField(choices=CompensationStatus.choices)
    attempts = serializers.IntegerField()
    input = serializers.JSONField(
        required=False, allow_null=True, help_text="Only with `workflows.view_payloads`."
    )
    last_error = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="type, message, details of the last failure; only with "
        "`workflows.view_payloads`.",
    )
    resolution = serializers.CharField(help_text="retry, resolve or skip once decided.")
    resolution_note = serializers.CharField()
    resolved_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()
    instance = serializers.SerializerMethodField(help_text="Status URL of the instance.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_resolved_by(self, record: Any) -> str | None:
        return record.resolved_by.get_username() if record.resolved_by else None

    @extend_schema_field(serializers.URLField())
    def get_url(self, record: Any) -> str:
        return reverse(
            "durable-api:compensation",
            kwargs={"record_id": record.pk},
            request=self.context["request"],
        )

    @extend_schema_field(serializers.URLField())
    def get_instance(self, record: Any) -> str:
        return status_url(self.context["request"], record.instance.instance_id)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("show_payloads"):
            for key in _PAYLOADS:
                data.pop(key, None)
        return data


class CompensationPageSerializer(serializers.Serializer):
    results = CompensationSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, or null at the end.")


# -- views --------------------------------------------------------------------------------------


class CompensationAPIView(DurableAPIView):
    required_permissions = {"GET": OPERATE, "POST": OPERATE}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if "record_id" in kwargs:
            check_record_id(kwargs["record_id"], "compensation record id")

    def record(self, record_id: str) -> Any:
        found = self.client.compensations().filter(pk=int(record_id)).first()
        if found is None:
            raise NotFound(f"No compensation record {record_id} exists.")
        return found

    def serialize(self, record: Any) -> dict[str, Any]:
        return CompensationSerializer(record, context=self.context()).data


class CompensationsView(CompensationAPIView):
    @extend_schema(
        operation_id="compensations_list",
        summary="Compensations",
        tags=["compensations"],
        description=(
            "Undo steps registered by sagas, newest first (highest id first); "
            "`?status=failed` for those waiting for an operator's decision. Needs "
            "`workflows.operate_instance`; `input` and `last_error` also need "
            "`workflows.view_payloads`. Follow `next` for the next page."
        ),
        parameters=[CompensationFilter],
        responses={200: CompensationPageSerializer, **doc.errors(400, texts=_TEXTS)},
    )
    def get(self, request: Request) -> Response:
        query = self.valid_query(CompensationFilter)
        rows = self.client.compensations(
            instance_id=query.get("instance"), status=query.get("status")
        )
        found, next_cursor = queryset_page(rows, query.get("cursor"), query["limit"])
        results = CompensationSerializer(found, many=True, context=self.context()).data
        return Response(page(request, results, next_cursor))


class CompensationView(CompensationAPIView):
    @extend_schema(
        operation_id="compensation_detail",
        summary="One compensation",
        tags=["compensations"],
        description="Needs `workflows.operate_instance`; `input` and `last_error` also "
        "`workflows.view_payloads`.",
        parameters=[RECORD_ID],
        responses={200: CompensationSerializer, **doc.errors(400, 404, texts=_TEXTS)},
    )
    def get(self, request: Request, record_id: str) -> Response:
        return Response(self.serialize(self.record(record_id)))


class CompensationActionView(CompensationAPIView):
    """POST compensations/{id}/<action>/: retry, resolve or skip a failed compensation."""

    action = ""
    body = NoteRequest

    def post(self, request: Request, record_id: str) -> Response:
        note = self.valid(self.body, request.data)["note"]
        record = self.record(record_id)
        decide = getattr(self.client, f"{self.action}_compensation")
        decide(record.pk, by=request.user, note=note)
        return Response(self.serialize(self.record(record_id)))


def _action_schema(action: str, summary: str, description: str, body: type) -> Any:
    return extend_schema(
        operation_id=f"compensation_{action}",
        summary=summary,
        tags=["compensations"],
        description=(
            f"{description} Only a failed compensation of a running or suspended workflow "
            "takes a decision (409 otherwise). Needs `workflows.operate_instance`; you are "
            "recorded as the one who decided. 200 with the updated record."
        ),
        parameters=[RECORD_ID],
        request=body,
        responses={200: CompensationSerializer, **doc.errors(400, 404, 409, 415, texts=_TEXTS)},
    )


class RetryView(CompensationActionView):
    action = "retry"

    @_action_schema(
        "retry", "Retry a failed compensation", "Runs the undo activity again.", NoteRequest
    )
    def post(self, request: Request, record_id: str) -> Response:
        return super().post(request, record_id)


class ResolveView(CompensationActionView):
    action = "resolve"
    body = RequiredNoteRequest

    @_action_schema(
        "resolve",
        "Resolve a failed compensation by hand",
        "Marks it done by hand (`resolved_manually`); the note says what was done.",
        RequiredNoteRequest,
    )
    def post(self, request: Request, record_id: str) -> Response:
        return super().post(request, record_id)


class SkipView(CompensationActionView):
    action = "skip"
    body = RequiredNoteRequest

    @_action_schema(
        "skip",
        "Skip a failed compensation",
        "Gives the undo up on purpose (`skipped`); the note says why.",
        RequiredNoteRequest,
    )
    def post(self, request: Request, record_id: str) -> Response:
        return super().post(request, record_id)
