"""HTTP endpoints under /api/v1/. Each handler validates, calls DurableClient, shapes JSON.

Nothing here touches models: DurableClient is the only way in (docs/architecture.md,
"Layers").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from ..client import (
    ATTRIBUTE_PREFIX,
    DurableClient,
    InstanceState,
    attribute_problems,
    may_see_payloads,
)
from ..engine.errors import InstanceFinished
from ..statuses import EventOutcome
from ..tracing import traced_request
from . import schema as doc
from .errors import error_body, exception_handler
from .fields import query_data
from .links import instance_links, status_url
from .pagination import page, slice_after
from .parsers import BoundedJSONParser
from .permissions import (
    OPERATE,
    RAISE_EVENT,
    START,
    DurablePermission,
)
from .responses import accepted, still_running
from .serializers import (
    EventRequest,
    EventResultSerializer,
    HistoryEventSerializer,
    HistoryPageSerializer,
    HistoryQuery,
    InstanceFilter,
    InstancePageSerializer,
    InstanceSerializer,
    InstanceSummarySerializer,
    ReasonRequest,
    StartedSerializer,
    StartRequest,
    StatusQuery,
)
from .validators import check_event_name, check_path_id


class DurableAPIView(APIView):
    """JSON in and out, DurablePermission, and the API's one error shape."""

    renderer_classes = [JSONRenderer]
    parser_classes = [BoundedJSONParser]
    permission_classes = [DurablePermission]
    schema = doc.ApiSchema()
    required_permissions: dict[str, str] = {}
    error_statuses: dict[type[Exception], int] = {}

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and permissions first
        if "instance_id" in kwargs:
            check_path_id(kwargs["instance_id"])
        if "event" in kwargs:
            check_event_name(kwargs["event"])

    @property
    def client(self) -> DurableClient:
        return DurableClient()

    def context(self) -> dict[str, Any]:
        return {"request": self.request, "show_payloads": may_see_payloads(self.request.user)}

    def valid(self, serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def valid_query(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        return self.valid(serializer_class, query_data(serializer_class, self.request.query_params))

    def instance(self, state: InstanceState) -> dict[str, Any]:
        return InstanceSerializer(state, context=self.context()).data

    def started(self, instance_id: str) -> Response:
        body = {"id": instance_id, "links": instance_links(self.request, instance_id)}
        return accepted(body, status_url(self.request, instance_id))


class InstancesView(DurableAPIView):
    required_permissions = {"POST": START}

    @extend_schema(
        operation_id="instances_list",
        summary="List instances",
        description=(
            "Newest first unless `sort` says otherwise, filtered; follow `next` (older) or "
            "`previous` (newer) for the pages around this one. Every instance with "
            "`workflows.view_instance` (or `operate_instance`); otherwise only those with an "
            "approval request for one of your groups. Search attributes filter as "
            "`?attr.<name>=<value>` (up to 5, all must match; `?attr.amount=5` matches the "
            'number 5 and the text "5"); a bad name or value is a 400 naming it. With '
            "`?count=true` the page carries `total`, counted up to 10,000 (`total_exact` "
            "false beyond)."
        ),
        parameters=[InstanceFilter],
        responses={200: InstancePageSerializer, **doc.errors(400)},
    )
    def get(self, request: Request) -> Response:
        filters = self.valid_query(InstanceFilter)
        params = request.query_params
        attributes = {
            key.removeprefix(ATTRIBUTE_PREFIX): params[key]
            for key in params
            if key.startswith(ATTRIBUTE_PREFIX)
        }
        problems = attribute_problems(attributes)
        if problems:  # a 400 naming each parameter, as the declared filters get
            raise serializers.ValidationError({key: [text] for key, text in problems.items()})
        found = self.client.query(  # only what they may see
            **filters, attributes=attributes or None, user=request.user
        )
        results = InstanceSummarySerializer(found.items, many=True, context=self.context()).data
        body = page(request, results, found.next_cursor)
        previous = None
        if found.previous_cursor is not None:
            previous = replace_query_param(
                request.build_absolute_uri(), "cursor", found.previous_cursor
            )
        body.update(
            previous_cursor=found.previous_cursor,
            previous=previous,
            total=found.total,
            total_exact=found.total_exact,
        )
        return Response(body)

    @extend_schema(
        operation_id="instances_start",
        summary="Start an instance",
        description=(
            "Needs `workflows.start_instance`. The id of an active or finished instance is "
            'refused (409); a finished one is replaced only with `"replace": true`, which '
            "also needs `workflows.operate_instance` (403 without). Answers 202 at once: poll "
            "the `Location` (status URL), waiting `Retry-After` seconds between polls."
        ),
        request=StartRequest,
        parameters=[doc.LOCATION, doc.RETRY_AFTER],
        responses={202: StartedSerializer, **doc.errors(400, 403, 409, 413, 415)},
    )
    @traced_request  # a caller's traceparent header parents the start (workflows/tracing.py)
    def post(self, request: Request) -> Response:
        body = self.valid(StartRequest, request.data)
        # The client checks the replace rule under the row lock (a check here could race).
        return self.started(self.client.start(**body, by=request.user))


class InstanceView(DurableAPIView):
    required_permissions = {"DELETE": OPERATE}

    @extend_schema(
        operation_id="instance_status",
        summary="Status of an instance",
        description=(
            "202 with `Retry-After` while pending, running or suspended; 200 once completed, "
            "failed or terminated. With `?wait=N` (seconds, at most 30) the answer waits until "
            "the instance finishes or N seconds have passed, whichever is first: the "
            "asynchronous pattern without polling. Needs `workflows.view_instance` (or "
            "`operate_instance`), or an approval request of it for one of your groups (403 "
            "otherwise, whether it exists or not). Input, output, custom status and failure "
            "details appear only with `workflows.view_payloads`; without it "
            "`attention_reason` leaves out the error text."
        ),
        parameters=[doc.INSTANCE_ID, StatusQuery, doc.RETRY_AFTER],
        responses={
            200: OpenApiResponse(InstanceSerializer, description="Finished."),
            202: OpenApiResponse(InstanceSerializer, description="Still active; poll again."),
            **doc.errors(400, 404),
        },
    )
    def get(self, request: Request, instance_id: str) -> Response:
        query = self.valid_query(StatusQuery)
        state = self.client.get_status(instance_id, history=query["history"], user=request.user)
        if query["wait"] and not state.is_finished:
            try:
                state = self.client.wait_for_completion(
                    instance_id, timeout=query["wait"], user=request.user
                )
            except TimeoutError:
                pass  # answered as still running: the caller asks again
            else:
                if query["history"]:
                    state = self.client.get_status(instance_id, history=True, user=request.user)
        if state.is_finished:
            return Response(self.instance(state))
        return still_running(self.instance(state))

    @extend_schema(
        operation_id="instance_purge",
        summary="Purge a finished instance",
        description="Deletes the instance and its history. Needs `workflows.operate_instance`.",
        parameters=[doc.INSTANCE_ID],
        responses={204: OpenApiResponse(description="Purged."), **doc.errors(400, 404, 409)},
    )
    def delete(self, request: Request, instance_id: str) -> Response:
        self.client.purge(instance_id, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HistoryView(DurableAPIView):
    @extend_schema(
        operation_id="instance_history",
        summary="History of an instance",
        description="Events of the current execution in order. Who may read it as for the "
        "status; payloads only with `workflows.view_payloads`.",
        parameters=[doc.INSTANCE_ID, HistoryQuery],
        responses={200: HistoryPageSerializer, **doc.errors(400, 404)},
    )
    def get(self, request: Request, instance_id: str) -> Response:
        query = self.valid_query(HistoryQuery)
        rows = self.client.get_status(instance_id, history=True, user=request.user).history or []
        chunk, next_cursor = slice_after(rows, "seq", query.get("cursor"), query["limit"])
        results = HistoryEventSerializer(chunk, many=True, context=self.context()).data
        return Response(page(request, results, next_cursor))


class EventView(DurableAPIView):
    required_permissions = {"POST": RAISE_EVENT}
    error_statuses = {InstanceFinished: status.HTTP_410_GONE}

    @extend_schema(
        operation_id="instance_raise_event",
        summary="Raise an event",
        description=(
            "Needs `workflows.raise_event`. 202 when delivered; 200 when `event_id` was "
            "already used (nothing changes; `first_outcome` tells what the first one did); "
            "410 when the instance already finished. The sender is recorded as your user name."
        ),
        parameters=[doc.INSTANCE_ID, doc.EVENT_NAME],
        request=EventRequest,
        responses={
            202: OpenApiResponse(EventResultSerializer, description="Delivered."),
            200: OpenApiResponse(EventResultSerializer, description="Duplicate event_id."),
            **doc.errors(400, 404, 410, 413, 415),
        },
    )
    def post(self, request: Request, instance_id: str, event: str) -> Response:
        body = self.valid(EventRequest, request.data)
        result = self.client.raise_event(
            instance_id,
            event,
            body["data"],
            event_id=body.get("event_id"),
            sender=request.user.get_username(),
        )
        data = {
            "instance_id": instance_id,
            "event": event,
            "event_id": result.event_id,
            "outcome": result.outcome,
            "first_outcome": result.first_outcome,
        }
        duplicate = result.outcome == EventOutcome.DUPLICATE
        return Response(data, status=status.HTTP_200_OK if duplicate else status.HTTP_202_ACCEPTED)


class OperationView(DurableAPIView):
    """POST instances/{id}/<operation>/ with an optional ``{"reason": ...}``."""

    required_permissions = {"POST": OPERATE}
    operation = ""

    def post(self, request: Request, instance_id: str) -> Response:
        body = self.valid(ReasonRequest, request.data)
        getattr(self.client, self.operation)(instance_id, body["reason"], by=request.user)
        return Response(self.instance(self.client.get_status(instance_id, user=request.user)))


def _operation_schema(operation: str, summary: str, description: str) -> Callable:
    return extend_schema(
        operation_id=f"instance_{operation}",
        summary=summary,
        description=f"{description} Needs `workflows.operate_instance`.",
        parameters=[doc.INSTANCE_ID],
        request=ReasonRequest,
        responses={200: InstanceSerializer, **doc.errors(400, 404, 409, 415)},
    )


class TerminateView(OperationView):
    operation = "terminate"

    @_operation_schema(
        "terminate", "Terminate an instance", "Ends an active instance and its children."
    )
    def post(self, request: Request, instance_id: str) -> Response:
        return super().post(request, instance_id)


class SuspendView(OperationView):
    operation = "suspend"

    @_operation_schema("suspend", "Suspend an instance", "Events are kept until it is resumed.")
    def post(self, request: Request, instance_id: str) -> Response:
        return super().post(request, instance_id)


class ResumeView(OperationView):
    operation = "resume"

    @_operation_schema("resume", "Resume an instance", "Applies what arrived while suspended.")
    def post(self, request: Request, instance_id: str) -> Response:
        return super().post(request, instance_id)


class RewindView(OperationView):
    operation = "rewind"

    @_operation_schema(
        "rewind",
        "Rewind a failed instance",
        "Resumes a failed instance at its point of failure, re-running the failed tasks "
        "(completed results are kept). 409 unless it failed on an activity or "
        "sub-orchestration at its last step; use restart then.",
    )
    def post(self, request: Request, instance_id: str) -> Response:
        # client.rewind reports an unknown id as InvalidInput; ask first so it is a 404.
        self.client.get_status(instance_id)
        return super().post(request, instance_id)


class RestartView(DurableAPIView):
    required_permissions = {"POST": OPERATE}

    @extend_schema(
        operation_id="instance_restart",
        summary="Restart a finished instance",
        description=(
            "Starts it again from the beginning with its original input, under the same id. "
            "Needs `workflows.operate_instance`. Answers like a start: 202 + Location. "
            "The `reason` is kept in the audit log."
        ),
        parameters=[doc.INSTANCE_ID, doc.LOCATION, doc.RETRY_AFTER],
        request=ReasonRequest,
        responses={202: StartedSerializer, **doc.errors(400, 404, 409, 415)},
    )
    def post(self, request: Request, instance_id: str) -> Response:
        reason = self.valid(ReasonRequest, request.data)["reason"]
        return self.started(self.client.restart(instance_id, by=request.user, reason=reason))


def not_found(request: HttpRequest, unmatched: str = "") -> JsonResponse:
    """JSON 404 for any other path under /api/v1/ (instead of Django's HTML page)."""
    detail = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            detail += f" API paths end with a slash: {request.path}/"
    return JsonResponse(error_body("not_found", detail), status=404)
