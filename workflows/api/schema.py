"""OpenAPI details drf-spectacular cannot infer: strict bodies, shared responses, params."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from .fields import StrictSerializer
from .serializers import ErrorSerializer
from .validators import EVENT_NAME_PATTERN, ID_PATTERN


class ApiSchema(AutoSchema):
    """Tags our operations, and marks StrictSerializer bodies ``additionalProperties: false``."""

    def get_tags(self) -> list[str]:
        return ["instances"]

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        return schema


_ERROR_TEXT = {
    400: "Invalid input: malformed JSON, bad id, bad field or filter value.",
    401: "Not authenticated: send `Authorization: Token <key>` (or a session).",
    403: "Authenticated, but without the permission this call needs.",
    404: "No such instance.",
    409: "The instance's state does not allow this.",
    410: "The instance already finished; it takes no more events.",
    413: "The request body or a payload is over the size limit.",
    415: "The body is not `application/json`.",
}


def errors(*codes: int, texts: dict[int, str] | None = None) -> dict[int, OpenApiResponse]:
    """Error responses of an operation; 401 and 403 apply to every one. ``texts`` replaces
    the descriptions of some codes (e.g. 404 for an approval rather than an instance)."""
    texts = {**_ERROR_TEXT, **(texts or {})}
    return {
        code: OpenApiResponse(ErrorSerializer, description=texts[code])
        for code in sorted({401, 403, *codes})
    }


INSTANCE_ID = OpenApiParameter(
    "instance_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=ID_PATTERN,
    description="Instance id.",
    examples=[OpenApiExample("example", value="order-42")],
)
EVENT_NAME = OpenApiParameter(
    "event",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=EVENT_NAME_PATTERN,
    description="Event name the orchestrator waits for (`wait_for_external_event`).",
    examples=[OpenApiExample("example", value="approve")],
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[202],
    description="Seconds to wait before polling the status URL again.",
)
LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    response=[202],
    description="The status URL of the instance.",
)
