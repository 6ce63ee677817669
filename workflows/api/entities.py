"""/api/v1/entities/: durable entities (docs/architecture.md, "Entities").

Reading needs ``workflows.view_instance`` (the state and queued inputs are payloads:
``workflows.view_payloads``); signalling needs ``entities.signal_entity``; purging
``workflows.operate_instance``, all checked by DurableClient, so a refusal is a 403
naming it. An unknown entity or operation is a 400 and queues nothing. A signal is
accepted with 202: it is applied soon, in order; ``signal_id`` makes a repeat a no-op.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ..entities.client import EntityState
from . import schema as doc
from .fields import QueryWholeNumber, StrictSerializer, Text
from .views import DurableAPIView

# The rules of engine.entities.EntityId, so a client (and schemathesis) knows a bad one.
NAME = OpenApiParameter(
    "name",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=r"^[^@/\u0000]{1,100}$",
    description="Entity name: 1-100 characters, no '@'.",
)
KEY = OpenApiParameter(
    "key",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=r"^[^/\u0000]{1,200}$",
    description="Entity key: 1-200 characters.",
)
OPERATION = OpenApiParameter(
    "operation", OpenApiTypes.STR, OpenApiParameter.PATH, description="Operation name."
)
_TEXTS = {
    400: "A malformed id, an unknown entity or operation, or a bad input; nothing queued.",
    403: "Reading needs `workflows.view_instance`; signalling `entities.signal_entity`; "
    "purging `workflows.operate_instance`.",
    404: "No such entity.",
    409: "The entity is locked by a running orchestration.",
}


class EntityListQuery(serializers.Serializer):
    name = serializers.CharField(required=False, help_text="Only entities of this name.")
    key = serializers.CharField(required=False, help_text="Only keys containing this text.")
    limit = QueryWholeNumber(required=False, default=100, min_value=1, max_value=1000)


class SignalRequest(StrictSerializer):
    input = serializers.JSONField(required=False, default=None, help_text="The operation's input.")
    signal_id = Text(required=False, help_text="De-duplication: the same id again queues nothing.")


class QueuedSerializer(serializers.Serializer):
    operation = serializers.CharField()
    kind = serializers.CharField()
    sender = serializers.CharField(allow_blank=True)
    created_at = serializers.CharField()
    input = serializers.JSONField(allow_null=True)


class AppliedSerializer(serializers.Serializer):
    operation = serializers.CharField()
    kind = serializers.CharField()
    sender = serializers.CharField(allow_blank=True)
    ok = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    applied_at = serializers.CharField()


class EntitySerializer(serializers.Serializer):
    entity = serializers.CharField(help_text="`@name@key`.")
    name = serializers.CharField()
    key = serializers.CharField()
    exists = serializers.BooleanField(help_text="False: no state (new, or deleted).")
    state = serializers.JSONField(allow_null=True, help_text="Null without `view_payloads`.")
    version = serializers.IntegerField(help_text="Batches applied.")
    lock_holder = serializers.CharField(allow_null=True, help_text="The instance holding it.")
    queued_count = serializers.IntegerField()
    operations_applied = serializers.IntegerField()
    updated_at = serializers.CharField(allow_null=True)
    last_operation_at = serializers.CharField(allow_null=True)
    queued = QueuedSerializer(many=True, help_text="The first 50, in the order they apply.")
    recent = AppliedSerializer(many=True, help_text="Newest first.")


class EntityListSerializer(serializers.Serializer):
    results = EntitySerializer(many=True)


class SignalSerializer(serializers.Serializer):
    entity = serializers.CharField()
    operation = serializers.CharField()
    queued = serializers.BooleanField(help_text="False: this signal_id was sent before.")
    links = serializers.DictField()


def _shown(state: EntityState) -> dict[str, Any]:
    return state.as_dict()


class EntitiesView(DurableAPIView):
    @extend_schema(
        operation_id="entities_list",
        summary="Entities",
        tags=["entities"],
        parameters=[EntityListQuery],
        responses={200: EntityListSerializer, **doc.errors(400, texts=_TEXTS)},
    )
    def get(self, request: Request) -> Response:
        query = self.valid_query(EntityListQuery)
        found = self.client.list_entities(
            query.get("name"), query.get("key"), query["limit"], user=request.user
        )
        return Response({"results": [_shown(e) for e in found]})


class EntityView(DurableAPIView):
    @extend_schema(
        operation_id="entity_read",
        summary="An entity",
        tags=["entities"],
        parameters=[NAME, KEY],
        responses={200: EntitySerializer, **doc.errors(400, 404, texts=_TEXTS)},
    )
    def get(self, request: Request, name: str, key: str) -> Response:
        return Response(_shown(self.client.get_entity((name, key), user=request.user)))

    @extend_schema(
        operation_id="entity_purge",
        summary="Purge an entity",
        tags=["entities"],
        description="Deletes its state, queue and log. Needs `workflows.operate_instance`.",
        parameters=[NAME, KEY],
        responses={204: None, **doc.errors(400, 404, 409, texts=_TEXTS)},
    )
    def delete(self, request: Request, name: str, key: str) -> Response:
        self.client.purge_entity((name, key), by=request.user)
        return Response(status=204)


class SignalView(DurableAPIView):
    @extend_schema(
        operation_id="entity_signal",
        summary="Signal an entity",
        tags=["entities"],
        description="Queues a one-way operation (202). Needs `entities.signal_entity`.",
        parameters=[NAME, KEY, OPERATION],
        request=SignalRequest,
        responses={202: SignalSerializer, **doc.errors(400, 413, 415, texts=_TEXTS)},
    )
    def post(self, request: Request, name: str, key: str, operation: str) -> Response:
        body = self.valid(SignalRequest, request.data)
        queued = self.client.signal_entity(
            (name, key),
            operation,
            body.get("input"),
            signal_id=body.get("signal_id"),
            by=request.user,
        )
        url = reverse("durable-api:entity", args=[name, key], request=request)
        entity = f"@{name}@{key}"
        return Response(
            {"entity": entity, "operation": operation, "queued": queued, "links": {"entity": url}},
            status=202,
            headers={"Location": url},
        )
