"""Saved views of the console: a named instance-list filter per user (create, apply,
delete). They are the console's own preferences, not workflow state, so this module
keeps them itself (workflows.models.SavedView) instead of going through DurableClient.

A view stores the list's query string without its page (cursor); applying one is a link
to the console with that query.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from workflows.models import SavedView

from . import access
from .forms import ConsoleFilterForm
from .http import field_error, refused, require

MAX_VIEWS = 50  # per user
NEEDS_VIEW = "The console is for operators: it needs the permission to view instances."
PARTIAL = "workflows/partials/_saved_views.html"


def _check_name(value: str) -> None:
    if not value.strip() or any(ord(c) < 32 for c in value):
        raise forms.ValidationError("Name: give 1-80 characters of one line, e.g. 'ACME failures'.")


class SaveViewForm(forms.Form):
    """A view's name; its filter is the console's filter fields posted along (the save
    form includes ``#filters``), checked as the console checks them, without the page."""

    view_name = forms.CharField(
        max_length=80,
        label="Name",
        validators=[_check_name],
        error_messages={
            "required": "Name: give the view a name, e.g. 'ACME failures'.",
            "max_length": "Name: at most 80 characters.",
        },
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        keys = [k for k in ConsoleFilterForm.base_fields if k != "cursor"]
        pairs = [(k, v) for k in keys for v in self.data.getlist(k) if v]
        check = ConsoleFilterForm(QueryDict(urlencode(pairs)))
        if not check.is_valid():
            raise forms.ValidationError(
                "; ".join(e for errors in check.errors.values() for e in errors)
            )
        data["query"] = urlencode(pairs)
        return data


def views_of(user: Any) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user).order_by("name"))


def _answer(request: HttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    """The saved views again (HTMX), or back to the console; an error next to the name
    field (HTMX) or on a small page, with nothing saved or deleted."""
    if error:
        if request.htmx:
            return field_error(request, error, "saved-view-error", status)
        return refused(request, error, status, "Cannot save that view")
    if not request.htmx:
        return HttpResponseRedirect(reverse("ui:console") + "#all-instances")
    return render(request, PARTIAL, {"saved_views": views_of(request.user)})


@require_POST
@require(access.can_view_console, NEEDS_VIEW)
def save_view(request: HttpRequest) -> HttpResponse:
    """Save the list's current filter under a name (the same name again replaces it)."""
    form = SaveViewForm(request.POST)
    if not form.is_valid():
        error = "; ".join(e for errors in form.errors.values() for e in errors)
        return _answer(request, error, 400)
    name, query = form.cleaned_data["view_name"].strip(), form.cleaned_data["query"]
    mine = SavedView.objects.filter(user=request.user)
    if not mine.filter(name=name).exists() and mine.count() >= MAX_VIEWS:
        return _answer(request, f"At most {MAX_VIEWS} saved views; delete one first.", 400)
    SavedView.objects.update_or_create(user=request.user, name=name, defaults={"query": query})
    return _answer(request)


@require_POST
@require(access.can_view_console, NEEDS_VIEW)
def delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one of the user's own views (another's is a 404: not theirs to see)."""
    deleted, _ = SavedView.objects.filter(user=request.user, pk=pk).delete()
    if not deleted:
        return _answer(request, "No such saved view (deleted already?).", 404)
    return _answer(request)
