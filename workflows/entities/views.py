"""The console's entities page (/console/entities/): search by name and key; one entity's
state (JSON), queued operations, lock holder (linked to its instance) and recent
operations with their sender (an instance linked); with ``entities.signal_entity`` a
form to signal it. Reading needs ``workflows.view_instance``; the state and inputs are
shown with ``workflows.view_payloads``. Changes go through DurableClient.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from ..access import may_see_payloads
from ..client import DurableClient
from ..engine.errors import DurableError
from ..rules import parse_json
from ..ui.access import can_view_console
from ..ui.http import refused, require, status_of
from .client import may_signal

NO_VIEW = "The entities page needs the permission workflows.view_instance."
NO_SIGNAL = "Signalling entities needs the permission entities.signal_entity."


@require_GET
@require(can_view_console, NO_VIEW)
def entities_page(request: HttpRequest) -> HttpResponse:
    name = request.GET.get("name", "").strip()
    key = request.GET.get("key", "").strip()
    client = DurableClient()
    try:
        found = client.list_entities(name or None, key or None, 200, user=request.user)
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), "Cannot search entities")
    context = {
        "entities": found,
        "names": client.registry.entity_names(),
        "name": name,
        "key": key,
    }
    return render(request, "workflows/entities.html", context)


@require_GET
@require(can_view_console, NO_VIEW)
def entity_page(request: HttpRequest, name: str, key: str) -> HttpResponse:
    try:
        entity = DurableClient().get_entity((name, key), user=request.user)
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), f"No entity @{name}@{key}")
    shown = json.dumps(entity.state, indent=2, sort_keys=True) if entity.exists else ""
    context = {
        "entity": entity,
        "state_json": shown,
        "payloads": may_see_payloads(request.user),
        "may_signal": may_signal(request.user),
    }
    return render(request, "workflows/entity.html", context)


@require_POST
@require(may_signal, NO_SIGNAL)
def signal(request: HttpRequest, name: str, key: str) -> HttpResponse:
    operation = request.POST.get("operation", "").strip()
    text = request.POST.get("input", "").strip()
    try:
        value = parse_json(text, "input") if text else None
        DurableClient().signal_entity((name, key), operation, value, by=request.user)
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), f"Cannot signal @{name}@{key}")
    messages.success(request, f"{operation} queued for @{name}@{key}.")
    return HttpResponseRedirect(reverse("entities:entity", args=[name, key]))
