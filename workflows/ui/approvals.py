"""Approvals page: the signed-in user's requests; approve or reject inline (HTMX)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from workflows.client import DurableClient
from workflows.engine import DurableError
from workflows.statuses import ApprovalStatus

from .forms import ApprovalFilterForm, DecisionForm
from .http import (
    back,
    field_error,
    fragment,
    login_required,
    message_response,
    refused,
    status_of,
)
from .live import poll_seconds

DECIDED = [
    ApprovalStatus.APPROVED,
    ApprovalStatus.REJECTED,
    ApprovalStatus.EXPIRED,
    ApprovalStatus.CANCELLED,
]
HISTORY_LIMIT = 50
PENDING_LIMIT = 200  # the soonest deadlines; the tab shows how many there are in all
LIST = "workflows/partials/_approval_list.html"


def _tab(request: HttpRequest) -> str:
    return "history" if request.GET.get("tab") == "history" else "pending"


_ORDERS: dict[str, Callable[[Any], Any]] = {
    "deadline": lambda a: (a.deadline is None, a.deadline or a.created_at, a.pk),
    "newest": lambda a: (-a.created_at.timestamp(), -a.pk),
    "oldest": lambda a: (a.created_at, a.pk),
}


def _matches(approval: Any, text: str, workflow: str) -> bool:
    if workflow and approval.instance.name != workflow:
        return False
    if not text:
        return True
    summary = approval.summary if isinstance(approval.summary, dict) else {}
    haystack = " ".join(
        [approval.title, approval.name, approval.instance.instance_id]
        + [approval.instance.business_key or "", approval.instance.name]
        + [f"{k} {v}" for k, v in summary.items()]
        + [json.dumps(approval.details, ensure_ascii=False, default=str)]
    )
    return text.lower() in haystack.lower()


def _context(request: HttpRequest, tab: str) -> dict[str, Any]:
    client = DurableClient()
    user = request.user
    waiting = client.approvals(user=user, status=ApprovalStatus.PENDING).select_related(
        "claimed_by"
    )
    # A decision or claim posts the filter along (hx-include): its answer keeps it.
    form = ApprovalFilterForm(request.POST if request.method == "POST" else request.GET)
    f = form.cleaned_data if form.is_valid() else {}
    text, workflow = (f.get("q") or "").strip(), (f.get("workflow") or "").strip()
    sort = f.get("sort") or "deadline"
    window = list(waiting[:PENDING_LIMIT])
    shown = [a for a in window if _matches(a, text, workflow)]
    pending = sorted(shown, key=lambda a: (a.assignees, _ORDERS[sort](a)))  # by group
    context: dict[str, Any] = {
        "tab": tab,
        "pending": pending,
        "pending_count": waiting.count() if len(window) == PENDING_LIMIT else len(window),
        "filtered": bool(text or workflow),
        "filter_form": form,
        "workflows": sorted({a.instance.name for a in window}),
        "sort": sort,
        "poll_seconds": poll_seconds(),
        "member_of": list(user.groups.values_list("name", flat=True)),
    }
    if tab == "history":
        # Newest first: decided ones by decision time, expired ones by their deadline.
        decided = client.approvals(user=user).filter(status__in=DECIDED)
        context["decided"] = list(
            decided.order_by(Coalesce("decided_at", "deadline", "created_at").desc(), "-pk")[
                :HISTORY_LIMIT
            ]
        )
    return context


@require_GET
@login_required
def approvals_page(request: HttpRequest) -> HttpResponse:
    return render(request, "workflows/approvals.html", _context(request, _tab(request)))


@require_GET
@login_required
def approvals_list(request: HttpRequest) -> HttpResponse:
    """The list alone: refreshed live (websocket push, else polling)."""
    return fragment(request, LIST, _context(request, _tab(request)))


@require_POST
@login_required
def claim(request: HttpRequest, pk: int, release: bool = False) -> HttpResponse:
    """ "I'm on it" (or release): the group sees who works on the request."""
    client = DurableClient()
    try:
        approval = client.claim_approval(pk, request.user, release=release)
    except DurableError as exc:
        return _refuse(request, str(exc), status_of(exc), reverse("ui:approvals"))
    if release:
        messages.info(request, f"You released “{approval.title or approval.name}”.")
    else:
        messages.success(request, f"You are on “{approval.title or approval.name}”.")
    if request.htmx:
        return fragment(request, LIST, _context(request, "pending"))
    return back(request, reverse("ui:approvals"))


@require_POST
@login_required
def release(request: HttpRequest, pk: int) -> HttpResponse:
    return claim(request, pk, release=True)


@require_POST
@login_required
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject; the client refuses foreign, late and repeated decisions."""
    fallback = reverse("ui:approvals")
    form = DecisionForm(request.POST)
    if not form.is_valid():
        text = "Choose approve or reject; a comment has at most 4000 characters."
        return _refuse(request, text, 400, fallback)
    client = DurableClient()
    approve = form.cleaned_data["decision"] == "approve"
    comment = form.cleaned_data["comment"]
    request_row = client.approvals(user=request.user).filter(pk=pk).first()
    asks_reason = bool(request_row and request_row.reason_required)
    if request.htmx and asks_reason and not approve and not comment.strip():
        # Said next to the comment; the client refuses it too (approvals.decide).
        text = "The workflow asks for a reason to reject: write it here."
        return field_error(request, text, f"comment-{pk}-error")
    try:
        decision = client.decide(pk, request.user, approve, comment)
    except DurableError as exc:
        return _refuse(request, str(exc), status_of(exc), fallback)
    approval = client.approvals(user=request.user).filter(pk=pk).first()
    name = approval.name if approval else "the request"
    if decision.first:
        verb = "approved" if approve else "rejected"
        messages.success(request, f"You {verb} “{name}”. The workflow goes on.")
    else:
        messages.warning(
            request,
            f"“{name}” was already {decision.status} by {decision.decided_by or 'someone'}; "
            "your decision was not recorded.",
        )
    if request.htmx:
        # The whole list: a live refresh may have redrawn it meanwhile, and the decided
        # card stays on top until the next refresh.
        context = {**_context(request, "pending"), "just_decided": approval}
        return fragment(request, LIST, context)
    return back(request, fallback)


def _refuse(request: HttpRequest, text: str, status: int, fallback: str) -> HttpResponse:
    if request.htmx:
        return message_response(request, text, status)
    if status in (403, 404):
        return refused(request, text, status, "Not allowed" if status == 403 else "Not found")
    messages.error(request, text)
    return back(request, fallback)
