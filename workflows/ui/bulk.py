"""Bulk operations in the console: review what a selection matches, start the operation,
follow its progress live, read its outcomes, cancel it (docs/architecture.md, "Bulk
operations"). Every step goes through DurableClient; every page needs
``workflows.operate_instance``.

The flow: the console's lists post their selection (picked rows, or "all N matching this
filter" with the filter's fields) and an action to ``review``, which counts and samples
it and asks for the reason; ``start`` records the operation and redirects to its page,
whose progress and outcomes refresh on websocket pushes (``ui/bulk_live.py``) with the
pages' usual polling as the fallback.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from workflows import rules
from workflows.bulk_client import (
    ACTIONS,
    COMPENSATIONS,
    INSTANCES,
    BulkItemStatus,
    BulkState,
    describe,
)
from workflows.client import DurableClient
from workflows.engine import DurableError
from workflows.statuses import InstanceStatus

from . import access
from .forms import parse_json
from .http import fragment, not_found, refused, require, status_of

NO_OPERATE = "Bulk operations need the operate permission (workflows.operate_instance)."
PROGRESS = "workflows/partials/_bulk_progress.html"
OUTCOMES = "workflows/partials/_bulk_outcomes.html"
OUTCOME_PAGE = 50
REFRESH_SECONDS = 2  # the polling fallback of a running operation's page


def offered(target: str, user: Any) -> list[tuple[str, str]]:
    """(action, label) of the bulk actions a list offers ``user`` for its kind of rows."""
    may_raise = access.can_raise_events(user)
    return [
        (name, action.label)
        for name, action in ACTIONS.items()
        if action.target == target and (name != "raise_event" or may_raise)
    ]


class SelectionForm(forms.Form):
    """A list's selection: an action, and the rows picked or "all matching" its filter."""

    action = forms.ChoiceField(choices=[(name, a.label) for name, a in ACTIONS.items()])
    scope = forms.ChoiceField(choices=[("picked", "picked"), ("all", "all")], required=False)
    ids = forms.MultipleChoiceField(required=False)  # checked by the client's rules
    # The console's filter fields (ui/forms.ConsoleFilterForm), and the compensations' one.
    q = forms.CharField(required=False, max_length=200)
    status = forms.MultipleChoiceField(required=False, choices=InstanceStatus.choices)
    name = forms.CharField(required=False, max_length=200)
    business_key = forms.CharField(required=False, max_length=rules.MAX_BUSINESS_KEY_LENGTH)
    attention = forms.BooleanField(required=False)
    activity = forms.CharField(required=False, max_length=200)

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        picked = data.getlist("ids") if hasattr(data, "getlist") else data.get("ids", [])
        self.fields["ids"].choices = [(value, value) for value in picked]

    def targets(self) -> dict[str, Any]:
        """The client's keyword arguments for these targets."""
        f = self.cleaned_data
        action = ACTIONS[f["action"]]
        if f["scope"] != "all":
            if not f["ids"]:
                raise forms.ValidationError("Pick at least one row, or all matching the filter.")
            if action.target == COMPENSATIONS:
                if not all(value.isdigit() for value in f["ids"]):
                    raise forms.ValidationError("Compensation rows are picked by record id.")
                return {"compensation_ids": [int(value) for value in f["ids"]]}
            return {"instance_ids": list(f["ids"])}
        if action.target == COMPENSATIONS:
            return {"filter": {"name": f["name"].strip(), "activity": f["activity"].strip()}}
        return {
            "filter": {
                "search": f["q"].strip(),
                "status": f["status"],
                "name": f["name"].strip(),
                "business_key": f["business_key"].strip(),
                "needs_attention": True if f["attention"] else None,
            }
        }

    def hidden(self) -> list[tuple[str, str]]:
        """The selection again, as (name, value) pairs for the next form."""
        f = self.cleaned_data
        pairs = [("action", f["action"]), ("scope", f["scope"] or "picked")]
        pairs += [("ids", value) for value in f["ids"]]
        pairs += [("status", value) for value in f["status"]]
        for key in ("q", "name", "business_key", "activity"):
            if f[key]:
                pairs.append((key, f[key]))
        if f["attention"]:
            pairs.append(("attention", "on"))
        return pairs


class StartForm(forms.Form):
    reason = forms.CharField(
        max_length=rules.MAX_NOTE_LENGTH,
        error_messages={"required": "Write the reason: it goes into every audit entry."},
    )
    expected = forms.IntegerField(min_value=0, required=False)
    event_name = forms.CharField(required=False, max_length=rules.MAX_EVENT_NAME_LENGTH)
    event_data = forms.CharField(required=False)

    def clean_event_data(self) -> Any:
        return parse_json(self.cleaned_data["event_data"], "event data")


def _errors(form: forms.Form) -> str:
    return " ".join(e for errors in form.errors.values() for e in errors)


def _review(
    request: HttpRequest, selection: SelectionForm, status: int = 200, error: str = ""
) -> HttpResponse:
    """The confirmation step: the count, a sample, what would be skipped, the reason."""
    client = DurableClient()
    name = selection.cleaned_data["action"]
    targets = selection.targets()
    preview = client.preview_bulk(name, **targets, user=request.user)
    action = ACTIONS[name]
    context = {
        "action": action,
        "preview": preview,
        "skipped": preview.matched - preview.allowed,
        "by_status": sorted(preview.by_status.items()),
        "hidden": selection.hidden(),
        "chosen": _described(targets.get("filter")),
        "picked": len(targets.get("instance_ids") or targets.get("compensation_ids") or []),
        "error": error,
        "values": request.POST,
        "is_compensation": action.target == COMPENSATIONS,
        "back": reverse("ui:console"),
    }
    return render(request, "workflows/bulk_review.html", context, status=status)


def _described(spec: dict[str, Any] | None) -> str:
    """A list's filter in words, its empty fields left out ("" for picked rows)."""
    if spec is None:
        return ""
    return describe({key: value for key, value in spec.items() if value not in (None, "", [])})


def _selection(request: HttpRequest) -> SelectionForm | HttpResponse:
    selection = SelectionForm(request.POST)
    if not selection.is_valid():
        return refused(request, f"Not a bulk selection: {_errors(selection)}", 400, "Bad request")
    try:
        selection.targets()
    except forms.ValidationError as exc:
        return refused(request, " ".join(exc.messages), 400, "Nothing selected")
    return selection


@require_POST
@require(access.can_operate, NO_OPERATE)
def review(request: HttpRequest) -> HttpResponse:
    """POST from a list: show what the selection matches now; nothing changes."""
    selection = _selection(request)
    if isinstance(selection, HttpResponse):
        return selection
    try:
        return _review(request, selection)
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), "Cannot do that")


@require_POST
@require(access.can_operate, NO_OPERATE)
def start(request: HttpRequest) -> HttpResponse:
    """POST from the review: record the operation, then follow it on its page."""
    selection = _selection(request)
    if isinstance(selection, HttpResponse):
        return selection
    form = StartForm(request.POST)
    try:
        if not form.is_valid():
            return _review(request, selection, 400, _errors(form))
        f = form.cleaned_data
        name = selection.cleaned_data["action"]
        event = name == "raise_event"  # the form's event fields mean nothing to others
        state = DurableClient().start_bulk(
            name,
            **selection.targets(),
            reason=f["reason"],
            by=request.user,
            event_name=(f["event_name"] or None) if event else None,
            event_data=f["event_data"] if event else None,
            expected_count=f["expected"],
        )
    except DurableError as exc:
        try:
            return _review(request, selection, status_of(exc), str(exc))
        except DurableError as again:  # e.g. the permission is gone: say that alone
            return refused(request, str(again), status_of(again), "Cannot do that")
    return HttpResponseRedirect(reverse("ui:bulk-operation", args=[state.id]))


def _load(request: HttpRequest, pk: int) -> BulkState | HttpResponse:
    try:
        return DurableClient().bulk_operation(pk, user=request.user)
    except DurableError as exc:
        if status_of(exc) == 404:
            return not_found(request, str(exc))
        return refused(request, str(exc), status_of(exc), "Cannot do that")


def _progress_context(state: BulkState) -> dict[str, Any]:
    return {"op": state, "refresh": REFRESH_SECONDS, "chosen": describe(state.filter)}


def _outcomes_context(request: HttpRequest, state: BulkState) -> dict[str, Any]:
    shown = request.GET.get("outcome") or ""
    if shown not in BulkItemStatus.values:
        shown = ""
    page = DurableClient().bulk_outcomes(
        state.id,
        status=shown or None,
        limit=OUTCOME_PAGE,
        cursor=request.GET.get("cursor") or None,
        user=request.user,
    )
    counts = {
        "done": state.done,
        "skipped": state.skipped,
        "failed": state.failed,
        "cancelled": state.cancelled,
        "pending": state.pending,
    }
    return {
        "op": state,
        "outcomes": page.items,
        "next_cursor": page.next_cursor,
        "shown": shown,
        "tabs": [("", "All", state.matched)] + [(k, k.capitalize(), n) for k, n in counts.items()],
        "refresh": REFRESH_SECONDS,
        "links_instances": state.target == INSTANCES,
    }


@require_GET
@require(access.can_operate, NO_OPERATE)
def operation_page(request: HttpRequest, pk: int) -> HttpResponse:
    state = _load(request, pk)
    if isinstance(state, HttpResponse):
        return state
    try:
        outcomes = _outcomes_context(request, state)
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), "Cannot do that")
    context = {**_progress_context(state), **outcomes}
    return render(request, "workflows/bulk_operation.html", context)


@require_GET
@require(access.can_operate, NO_OPERATE)
def progress(request: HttpRequest, pk: int) -> HttpResponse:
    state = _load(request, pk)
    if isinstance(state, HttpResponse):
        return state
    return fragment(request, PROGRESS, _progress_context(state))


@require_GET
@require(access.can_operate, NO_OPERATE)
def outcomes(request: HttpRequest, pk: int) -> HttpResponse:
    state = _load(request, pk)
    if isinstance(state, HttpResponse):
        return state
    try:
        return fragment(request, OUTCOMES, _outcomes_context(request, state))
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), "Cannot do that")


@require_POST
@require(access.can_operate, NO_OPERATE)
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    reason = (request.POST.get("reason") or "").strip()
    try:
        state = DurableClient().cancel_bulk(pk, by=request.user, reason=reason)
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), "Cannot do that")
    if request.htmx:
        return fragment(request, PROGRESS, _progress_context(state))
    return HttpResponseRedirect(reverse("ui:bulk-operation", args=[pk]))


@require_GET
@require(access.can_operate, NO_OPERATE)
def operations_page(request: HttpRequest) -> HttpResponse:
    """Recent bulk operations, newest first."""
    try:
        found = DurableClient().bulk_operations(
            limit=50, cursor=request.GET.get("cursor") or None, user=request.user
        )
    except DurableError as exc:
        return refused(request, str(exc), status_of(exc), "Cannot do that")
    context = {"operations": found.items, "next_cursor": found.next_cursor}
    return render(request, "workflows/bulk_operations.html", context)
