"""Operators' console: counts, what needs a person, failures, long waits; search and paging."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from workflows.client import DurableClient
from workflows.engine.errors import ClientError
from workflows.statuses import CompensationStatus, InstanceStatus

from . import access, queries
from .forms import ConsoleFilterForm
from .http import fragment, require
from .live import poll_seconds

PAGE_SIZE = 25
NEEDS_VIEW = "The console is for operators: it needs the permission to view instances."


def _overview(client: DurableClient, user: Any) -> dict[str, Any]:
    counts = queries.counts_by_status(client.hub)
    failed_compensations = list(client.compensations(status=CompensationStatus.FAILED)[:20])
    return {
        "counts": [(status, counts[status]) for status in InstanceStatus.values],
        "total": sum(counts.values()),
        "attention": client.query(needs_attention=True, limit=20, user=user).items,
        "attention_count": queries.attention_count(client.hub),
        "failed_compensations": failed_compensations,
        "failed": client.query(status=InstanceStatus.FAILED, limit=10, user=user).items,
        "waiting": queries.longest_waiting(client.hub, limit=10),
    }


def _listing(client: DurableClient, params: QueryDict, user: Any) -> dict[str, Any]:
    form = ConsoleFilterForm(params)
    context: dict[str, Any] = {
        "form": form,
        "items": [],
        "error": "",
        "poll_seconds": poll_seconds(),
    }
    if not form.is_valid():
        context["error"] = "; ".join(e for errors in form.errors.values() for e in errors)
        return context
    f = form.cleaned_data
    try:
        page = client.query(
            search=f["q"].strip() or None,
            status=f["status"] or None,
            name=f["name"].strip() or None,
            business_key=f["business_key"].strip() or None,
            needs_attention=True if f["attention"] else None,
            cursor=f["cursor"] or None,
            limit=PAGE_SIZE,
            user=user,
        )
    except ClientError as exc:
        context["error"] = str(exc)
        return context
    filters = params.copy()
    context["query"] = filters.urlencode()
    filters.pop("cursor", None)
    context.update(
        items=page.items,
        filtered=any(f[k] for k in ("q", "status", "name", "business_key", "attention")),
        paged=bool(f["cursor"]),
        first_query=filters.urlencode(),
    )
    if page.next_cursor:
        filters["cursor"] = page.next_cursor
        context["next_query"] = filters.urlencode()
    return context


@require_GET
@require(access.can_view_console, NEEDS_VIEW)
def console_page(request: HttpRequest) -> HttpResponse:
    client = DurableClient()
    context = {
        **_overview(client, request.user),
        **_listing(client, request.GET, request.user),
        "names": client.orchestrator_names(),
        "poll_seconds": poll_seconds(),
    }
    return render(request, "workflows/console.html", context)


@require_GET
@require(access.can_view_console, NEEDS_VIEW)
def console_overview(request: HttpRequest) -> HttpResponse:
    context = _overview(DurableClient(), request.user)
    return fragment(request, "workflows/partials/_console_overview.html", context)


@require_GET
@require(access.can_view_console, NEEDS_VIEW)
def console_instances(request: HttpRequest) -> HttpResponse:
    context = _listing(DurableClient(), request.GET, request.user)
    response = fragment(request, "workflows/partials/_instance_list.html", context)
    if request.htmx and request.htmx.trigger != "instance-list":  # filters or paging, not a refresh
        query = request.GET.urlencode()
        push_url(response, reverse("ui:console") + (f"?{query}" if query else ""))
    return response
