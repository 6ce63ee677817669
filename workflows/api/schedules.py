"""/api/v1/schedules/: durable cron and interval starts (docs/architecture.md,
"Schedules").

Reading needs ``workflows.view_instance``; every change needs
``schedules.manage_schedule`` (checked by DurableClient, so a refusal is a 403 naming
it). A wrong field is a 400 whose ``fields`` names it (``{"cron": ["..."]}``), and
nothing is created or changed. The schedule's ``input`` is shown only with
``workflows.view_payloads``. Like the rest of the API this goes through DurableClient.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ..schedules.client import ScheduleFieldError, ScheduleState
from ..schedules.policies import OVERLAP
from ..schedules.spec import FIELDS, check_schedule_id
from . import schema as doc
from .errors import error_body
from .fields import StrictSerializer, Text
from .validators import ID_PATTERN
from .views import DurableAPIView

SCHEDULE_ID = OpenApiParameter(
    "schedule_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=ID_PATTERN,
    description="Schedule id.",
)
_TEXTS = {
    400: "A wrong field (named in `fields`); nothing changed.",
    403: "Reading needs `workflows.view_instance`; changes `schedules.manage_schedule`.",
    404: "No such schedule.",
    409: "A schedule with that id exists already.",
}
_FIELD_HELP = {
    "orchestrator": "The orchestrator to start (registered name).",
    "version": "A pinned version, or null for the latest at each start.",
    "input": "The input of every run (JSON).",
    "pass_scheduled_time": "Add `scheduled_at` (ISO 8601, UTC) to the input object.",
    "cron": "Five-field cron expression, e.g. `*/5 * * * *` (or give `interval`).",
    "timezone": "IANA time zone of the cron expression (default UTC).",
    "interval": "Every this many seconds (instead of `cron`).",
    "offset": "Seconds after each interval boundary (from 1970-01-01 UTC).",
    "start_at": "No run before this (ISO 8601 with offset).",
    "end_at": "No run after this.",
    "jitter": "Delay each run by up to this many seconds (the same on every worker).",
    "overlap": "While the previous run goes: " + ", ".join(OVERLAP) + ".",
    "catchup": "After downtime: all (within the window), latest, none.",
    "catchup_window": "Seconds back that catch-up reaches (default 3600).",
    "note": "Free text.",
}


def _any(name: str) -> serializers.JSONField:
    return serializers.JSONField(required=False, help_text=_FIELD_HELP[name])


class ScheduleFields(StrictSerializer):
    """Every schedule field; each checked by the client, which names a wrong one."""

    orchestrator = Text(required=False, help_text=_FIELD_HELP["orchestrator"])
    version = _any("version")
    input = _any("input")
    pass_scheduled_time = _any("pass_scheduled_time")
    cron = _any("cron")
    timezone = _any("timezone")
    interval = _any("interval")
    offset = _any("offset")
    start_at = _any("start_at")
    end_at = _any("end_at")
    jitter = _any("jitter")
    overlap = _any("overlap")
    catchup = _any("catchup")
    catchup_window = _any("catchup_window")
    note = _any("note")


class CreateRequest(ScheduleFields):
    id = Text(help_text="The schedule's id (run ids are `<id>@<time>`).")
    orchestrator = Text(help_text=_FIELD_HELP["orchestrator"])


class ScheduleNoteRequest(StrictSerializer):
    note = Text(required=False, default="", allow_blank=True)


class ScheduleListQuery(serializers.Serializer):
    # Absent: every schedule. An empty value is refused (the schema says boolean).
    paused = serializers.BooleanField(required=False, help_text="Only paused (or active) ones.")


class BackfillRequest(StrictSerializer):
    start = Text(help_text="Start of the past range (ISO 8601 with offset).")
    end = Text(help_text="End of the range (inclusive).")
    overlap = serializers.ChoiceField(
        choices=list(OVERLAP), required=False, help_text="Instead of the schedule's policy."
    )


class RunSerializer(serializers.Serializer):
    scheduled_at = serializers.DateTimeField()
    kind = serializers.CharField()
    outcome = serializers.CharField()
    instance_id = serializers.CharField(allow_blank=True)
    status = serializers.CharField(allow_blank=True, help_text="The instance's status now.")
    reason = serializers.CharField(allow_blank=True)
    decided_at = serializers.DateTimeField()


class ScheduleSerializer(serializers.Serializer):
    id = serializers.CharField()
    orchestrator = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    spec = serializers.DictField(
        help_text="The fields as given (input hidden without `view_payloads`)."
    )
    source = serializers.CharField(help_text="`api` or `code` (@orchestrator(schedule=)).")
    paused = serializers.BooleanField()
    paused_by = serializers.CharField(allow_blank=True)
    paused_note = serializers.CharField(allow_blank=True)
    paused_at = serializers.DateTimeField(allow_null=True)
    next_run_at = serializers.DateTimeField(allow_null=True)
    upcoming = serializers.ListField(child=serializers.DateTimeField())
    buffered_at = serializers.DateTimeField(allow_null=True)
    started = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Not started by the overlap policy.")
    missed = serializers.IntegerField(help_text="Not started by the catch-up policy.")
    late_starts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    created_by = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    recent = RunSerializer(many=True)


class ScheduleListSerializer(serializers.Serializer):
    results = ScheduleSerializer(many=True)


class TriggerSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["started", "skipped", "buffered"])
    instance_id = serializers.CharField(allow_blank=True)
    schedule = ScheduleSerializer()


class BackfillSerializer(serializers.Serializer):
    times = serializers.IntegerField(help_text="Scheduled times in the range.")
    started = serializers.IntegerField()
    skipped = serializers.IntegerField()
    buffered = serializers.IntegerField()
    already = serializers.IntegerField(help_text="Decided before (left as they were).")


class ScheduleAPIView(DurableAPIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if "schedule_id" in kwargs:  # malformed: 400 before anything is looked up
            check_schedule_id(kwargs["schedule_id"])

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ScheduleFieldError):
            body = error_body("invalid_input", str(exc), {exc.field: [exc.message]})
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return super().handle_exception(exc)

    def shown(self, state: ScheduleState) -> dict[str, Any]:
        data = ScheduleSerializer(state).data
        if not self.context()["show_payloads"]:
            data["spec"]["input"] = None
        return data

    def body(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        return self.valid(serializer_class, self.request.data)


def _given(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key in FIELDS}


class SchedulesView(ScheduleAPIView):
    @extend_schema(
        operation_id="schedules_list",
        summary="Schedules",
        tags=["schedules"],
        description="Every schedule by id with its next times and last runs. Needs "
        "`workflows.view_instance`.",
        parameters=[ScheduleListQuery],
        responses={200: ScheduleListSerializer, **doc.errors(400, texts=_TEXTS)},
    )
    def get(self, request: Request) -> Response:
        paused = self.valid_query(ScheduleListQuery).get("paused")
        found = self.client.schedules(user=request.user)
        if paused is not None:
            found = [state for state in found if state.paused == paused]
        return Response({"results": [self.shown(state) for state in found]})

    @extend_schema(
        operation_id="schedules_create",
        summary="Create a schedule",
        tags=["schedules"],
        description="A cron expression (with `timezone`) or an `interval` (with `offset`); "
        "the rest is optional. Needs `schedules.manage_schedule`.",
        request=CreateRequest,
        responses={
            201: ScheduleSerializer,
            **doc.errors(400, 409, 413, 415, texts=_TEXTS),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.body(CreateRequest)
        state = self.client.create_schedule(body["id"], _given(body), by=request.user)
        location = reverse("durable-api:schedule", args=[state.id], request=request)
        return Response(self.shown(state), status=201, headers={"Location": location})


class ScheduleView(ScheduleAPIView):
    @extend_schema(
        operation_id="schedule_read",
        summary="A schedule",
        tags=["schedules"],
        parameters=[SCHEDULE_ID],
        responses={200: ScheduleSerializer, **doc.errors(400, 404, texts=_TEXTS)},
    )
    def get(self, request: Request, schedule_id: str) -> Response:
        return Response(self.shown(self.client.schedule(schedule_id, user=request.user)))

    @extend_schema(
        operation_id="schedule_update",
        summary="Change a schedule",
        tags=["schedules"],
        description="The fields given change; a changed timetable places the next run "
        "from now. Needs `schedules.manage_schedule`.",
        parameters=[SCHEDULE_ID],
        request=ScheduleFields,
        responses={200: ScheduleSerializer, **doc.errors(400, 404, 413, 415, texts=_TEXTS)},
    )
    def patch(self, request: Request, schedule_id: str) -> Response:
        body = self.body(ScheduleFields)
        state = self.client.update_schedule(schedule_id, _given(body), by=request.user)
        return Response(self.shown(state))

    @extend_schema(
        operation_id="schedule_delete",
        summary="Delete a schedule",
        tags=["schedules"],
        description="Its run records go too; started instances stay. Needs "
        "`schedules.manage_schedule`.",
        parameters=[SCHEDULE_ID],
        responses={204: None, **doc.errors(400, 404, texts=_TEXTS)},
    )
    def delete(self, request: Request, schedule_id: str) -> Response:
        self.client.delete_schedule(schedule_id, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _note_action(name: str, summary: str, text: str) -> type[ScheduleAPIView]:
    """The pause or resume view: a body with an optional note, the schedule back."""

    @extend_schema(
        operation_id=f"schedule_{name}",
        summary=summary,
        tags=["schedules"],
        description=text + " Needs `schedules.manage_schedule`.",
        parameters=[SCHEDULE_ID],
        request=ScheduleNoteRequest,
        responses={200: ScheduleSerializer, **doc.errors(400, 404, 415, texts=_TEXTS)},
    )
    def post(self: ScheduleAPIView, request: Request, schedule_id: str) -> Response:
        note = self.body(ScheduleNoteRequest)["note"]
        action = getattr(self.client, f"{name}_schedule")
        return Response(self.shown(action(schedule_id, note=note, by=request.user)))

    return type(f"{name.title()}View", (ScheduleAPIView,), {"post": post})


PauseView = _note_action("pause", "Pause a schedule", "No run starts until resumed.")
ResumeView = _note_action(
    "resume", "Resume a schedule", "Runs start from the next time after now (no catch-up)."
)


class TriggerView(ScheduleAPIView):
    @extend_schema(
        operation_id="schedule_trigger",
        summary="Run a schedule now",
        tags=["schedules"],
        description="One run now, by the overlap policy. Needs `schedules.manage_schedule`.",
        parameters=[SCHEDULE_ID],
        request=None,
        responses={200: TriggerSerializer, **doc.errors(400, 404, texts=_TEXTS)},
    )
    def post(self, request: Request, schedule_id: str) -> Response:
        found = self.client.trigger_schedule(schedule_id, by=request.user)
        return Response({**found, "schedule": self.shown(found["schedule"])})


class BackfillView(ScheduleAPIView):
    @extend_schema(
        operation_id="schedule_backfill",
        summary="Backfill a schedule",
        tags=["schedules"],
        description="Start the runs of the scheduled times in a past range (at most 1000), "
        "by the overlap policy (or `overlap`); times decided before are left. Needs "
        "`schedules.manage_schedule`.",
        parameters=[SCHEDULE_ID],
        request=BackfillRequest,
        responses={200: BackfillSerializer, **doc.errors(400, 404, 415, texts=_TEXTS)},
    )
    def post(self, request: Request, schedule_id: str) -> Response:
        body = self.body(BackfillRequest)
        counts = self.client.backfill_schedule(
            schedule_id, body["start"], body["end"], body.get("overlap"), by=request.user
        )
        return Response(counts)
