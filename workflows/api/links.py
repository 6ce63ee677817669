"""The management URLs of an instance (the Durable Functions check-status links)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework.request import Request


def status_url(request: Request, instance_id: str) -> str:
    return request.build_absolute_uri(reverse("durable-api:instance", args=[instance_id]))


def instance_links(request: Request, instance_id: str) -> dict[str, str]:
    """Absolute URLs; ``send_event`` keeps a literal ``{event}`` for the caller to fill in."""
    status = status_url(request, instance_id)
    return {
        "status": status,
        "history": f"{status}history/",
        "send_event": f"{status}events/{{event}}/",
        "terminate": f"{status}terminate/",
        "suspend": f"{status}suspend/",
        "resume": f"{status}resume/",
        "rewind": f"{status}rewind/",
        "restart": f"{status}restart/",
        "purge": status,
    }
