"""The console's schedules page (/console/schedules/): every schedule with its next run
times, last runs (status, link to the instance), paused state and who paused it, and the
skipped/missed/late counts; with ``schedules.manage_schedule`` also create, pause,
resume, trigger and delete. Reading needs ``workflows.view_instance``. Changes go through
DurableClient (its refusal is shown, naming the field) and answer with a redirect.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from ..client import DurableClient
from ..engine.errors import DurableError
from ..rules import parse_json
from ..ui.access import can_view_console
from ..ui.http import refused, require, status_of
from .client import ScheduleFieldError, may_manage_schedules
from .policies import CATCHUP, OVERLAP

NO_VIEW = "The schedules page needs the permission workflows.view_instance."
NO_MANAGE = "Changing schedules needs the permission schedules.manage_schedule."
FORM_FIELDS = (
    "orchestrator",
    "cron",
    "timezone",
    "interval",
    "offset",
    "start_at",
    "end_at",
    "jitter",
    "overlap",
    "catchup",
    "catchup_window",
    "version",
    "note",
)
WHOLE_NUMBERS = ("interval", "offset", "jitter", "catchup_window", "version")


def _page(request: HttpRequest, form: dict[str, Any], error: ScheduleFieldError | None = None):
    client = DurableClient()
    context = {
        "schedules": client.schedules(user=request.user),
        "may_manage": may_manage_schedules(request.user),
        "orchestrators": client.orchestrator_names(),
        "overlaps": OVERLAP,
        "catchups": CATCHUP,
        "form": form,
        "error": error,
    }
    return render(request, "workflows/schedules.html", context, status=400 if error else 200)


@require_GET
@require(can_view_console, NO_VIEW)
def schedules_page(request: HttpRequest) -> HttpResponse:
    return _page(request, {"timezone": "UTC", "overlap": "skip", "catchup": "latest"})


def _spec(post: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {k: post.get(k, "").strip() for k in FORM_FIELDS if post.get(k, "")}
    for field in WHOLE_NUMBERS:
        if field in spec:
            try:
                spec[field] = int(spec[field])
            except ValueError:
                raise ScheduleFieldError(field, "give a whole number.") from None
    if post.get("pass_scheduled_time"):
        spec["pass_scheduled_time"] = True
    if post.get("input", "").strip():
        try:
            spec["input"] = parse_json(post["input"], "input")
        except DurableError as exc:
            raise ScheduleFieldError("input", str(exc)) from None
    return spec


@require_POST
@require(may_manage_schedules, NO_MANAGE)
def create(request: HttpRequest) -> HttpResponse:
    try:
        state = DurableClient().create_schedule(
            request.POST.get("id", ""), _spec(request.POST), by=request.user
        )
    except ScheduleFieldError as exc:
        return _page(request, dict(request.POST.items()), exc)
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), "Cannot create the schedule")
    messages.success(request, f"Schedule {state.id} created.")
    return HttpResponseRedirect(reverse("schedules:list"))


@require_POST
@require(may_manage_schedules, NO_MANAGE)
def act(request: HttpRequest, schedule_id: str, action: str) -> HttpResponse:
    client = DurableClient()
    note = request.POST.get("note", "")
    calls = {
        "pause": lambda: client.pause_schedule(schedule_id, note=note, by=request.user),
        "resume": lambda: client.resume_schedule(schedule_id, note=note, by=request.user),
        "trigger": lambda: client.trigger_schedule(schedule_id, by=request.user),
        "delete": lambda: client.delete_schedule(schedule_id, by=request.user),
    }
    if action not in calls:
        return refused(request, f"No action {action!r} on schedules.", 404, "Not found")
    if action == "delete" and request.POST.get("confirm", "").strip() != schedule_id:
        # Deleting cannot be undone: the id typed again is the confirmation (no script needed).
        return refused(
            request,
            f"Type the schedule id {schedule_id!r} in the box to delete it; nothing was deleted.",
            400,
            f"Cannot delete {schedule_id}",
        )
    try:
        done = calls[action]()
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), f"Cannot {action} {schedule_id}")
    if action == "trigger":
        found = f": {done['instance_id']}" if done["instance_id"] else " (by its overlap policy)"
        messages.success(request, f"Run of {schedule_id} {done['outcome']}{found}.")
    else:
        messages.success(request, f"Schedule {schedule_id}: {action} done.")
    return HttpResponseRedirect(reverse("schedules:list"))
