"""Response helpers for the asynchronous pattern: 202 + Location + Retry-After."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response

from workflows.conf import conf


def retry_after_seconds() -> int:
    """``DURABLE_API_RETRY_AFTER_SECONDS`` (default 1): the polling interval we suggest."""
    return conf.API_RETRY_AFTER_SECONDS


def accepted(data: Any, location: str) -> Response:
    """202 for work that goes on in the background; poll ``location``."""
    return Response(
        data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": location, "Retry-After": str(retry_after_seconds())},
    )


def still_running(data: Any) -> Response:
    """202 + Retry-After: the instance is active, ask again later."""
    return Response(
        data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Retry-After": str(retry_after_seconds())},
    )
