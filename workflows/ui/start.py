"""Start a workflow: pick a registered orchestrator, give JSON input, optional ids."""

from __future__ import annotations

import inspect

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


def _described(client: DurableClient, names: list[str]) -> list[tuple[str, str]]:
    """Each orchestrator with the first paragraph of its docstring."""
    rows = []
    for name in names:
        doc = inspect.getdoc(client.registry.get_orchestrator(name).fn) or ""
        rows.append((name, doc.split("\n\n")[0].replace("\n", " ")))
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
    status = 200
    if request.method == "POST":
        form = StartForm(request.POST, names=names)
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
        initial = {"name": request.GET.get("name", "")}
        form = StartForm(initial=initial, names=names)
    context = {"form": form, "workflows": _described(client, names)}
    if form.errors and status == 200:
        status = 400  # the form's own checks refused it
    return render(request, "workflows/start.html", context, status=status)
