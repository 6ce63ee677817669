"""Start a workflow: pick a registered orchestrator, give JSON input, optional ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from workflows.client import DurableClient
from workflows.engine import DurableError

from . import access
from .forms import StartForm
from .http import require, status_of

NO_START = "Starting workflows needs the permission workflows.start_instance."


@dataclass(frozen=True)
class Described:
    """What the Start page tells about one orchestrator (``@orchestrator(description=,
    example=)``, else its docstring)."""

    name: str
    description: str
    versions: list[int]
    example: Any
    example_text: str  # pretty JSON, "" without an example


def _described(client: DurableClient, names: list[str]) -> list[Described]:
    rows = []
    for name in names:
        newest = client.registry.get_orchestrator(name)
        text = (
            json.dumps(newest.example, indent=2, ensure_ascii=False)
            if newest.example is not None
            else ""
        )
        versions = client.registry.orchestrator_versions(name)
        rows.append(Described(name, newest.description, versions, newest.example, text))
    return rows


_TICKED = {"on": True, "true": True, "1": True, "": False, "off": False, "false": False, "0": False}


def _replace(request: HttpRequest) -> bool | None:
    """The Replace box (a checkbox: "on" when ticked, absent otherwise); None when the
    value is neither. Whether it may replace is DurableClient.start's rule, not the page's."""
    return _TICKED.get(request.POST.get("replace", "").strip().lower())


@require(access.can_start, NO_START)
def start_page(request: HttpRequest) -> HttpResponse:
    client = DurableClient()
    names = client.orchestrator_names()
    described = _described(client, names)
    versions = sorted({v for d in described for v in d.versions})
    status = 200
    if request.method == "POST":
        form = StartForm(request.POST, names=names, versions=versions)
        replace = _replace(request)
        if replace is None:
            form.add_error(None, "Replace is a checkbox: tick it or leave it empty.")
        elif form.is_valid():
            f = form.cleaned_data
            try:
                instance_id = client.start(
                    f["name"],
                    f["input"],
                    instance_id=f["instance_id"],
                    version=f["version"],
                    business_key=f["business_key"],
                    by=request.user,
                    replace=replace,
                )
            except DurableError as exc:
                form.add_error(None, str(exc))
                status = status_of(exc)  # what the API answers: e.g. 409 for a taken id
            else:
                messages.success(request, f"Started {f['name']} as {instance_id}.")
                return HttpResponseRedirect(reverse("ui:instance", args=[instance_id]))
    else:
        chosen = request.GET.get("name", "") or (names[0] if names else "")
        example = next((d.example_text for d in described if d.name == chosen), "")
        initial = {"name": chosen, "input": example}  # the example, pre-filled
        form = StartForm(initial=initial, names=names, versions=versions)
    context = {
        "form": form,
        "workflows": described,
        # For static/workflows/start.js: each workflow's example, versions, description.
        "catalogue": {
            d.name: {
                "example": d.example_text,
                "versions": d.versions,
                "description": d.description,
            }
            for d in described
        },
    }
    if form.errors and status == 200:
        status = 400  # the form's own checks refused it
    return render(request, "workflows/start.html", context, status=status)
