"""Approvals page: the signed-in user's requests; approve or reject inline (HTMX)."""

from __future__ import annotations

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

from .forms import DecisionForm
from .http import back, fragment, login_required, message_response, refused, status_of
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


def _context(request: HttpRequest, tab: str) -> dict[str, Any]:
    client = DurableClient()
    user = request.user
    waiting = client.approvals(user=user, status=ApprovalStatus.PENDING)
    pending = sorted(  # by group, then soonest deadline first
        waiting[:PENDING_LIMIT],
        key=lambda a: (a.assignees, a.deadline is None, a.deadline or a.created_at, a.pk),
    )
    context: dict[str, Any] = {
        "tab": tab,
        "pending": pending,
        "pending_count": waiting.count() if len(pending) == PENDING_LIMIT else len(pending),
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
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject; the client refuses foreign, late and repeated decisions."""
    fallback = reverse("ui:approvals")
    form = DecisionForm(request.POST)
    if not form.is_valid():
        text = "Choose approve or reject; a comment has at most 4000 characters."
        return _refuse(request, text, 400, fallback)
    client = DurableClient()
    approve = form.cleaned_data["decision"] == "approve"
    try:
        decision = client.decide(pk, request.user, approve, form.cleaned_data["comment"])
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
