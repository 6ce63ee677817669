"""Operators' console: counts, what needs a person, failures, long waits; search and paging."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from workflows.client import COUNT_CAP, DurableClient
from workflows.engine.errors import ClientError
from workflows.statuses import CompensationStatus, InstanceStatus

from . import access, queries
from .bulk import offered
from .endings import compensated_count, endings
from .forms import SORT_CHOICES, ConsoleFilterForm
from .http import fragment, require
from .live import poll_seconds
from .saved_views import views_of

PAGE_SIZE = 25
DEFAULT_SORT = "-created"
# (sort key, header) of the list's sortable columns, in the table's order.
SORTABLE = (
    ("name", "Workflow"),
    ("status", "Status"),
    ("created", "Started"),
    ("updated", "Last change"),
)
NEEDS_VIEW = "The console is for operators: it needs the permission to view instances."


ACTIVE = [InstanceStatus.PENDING, InstanceStatus.RUNNING, InstanceStatus.SUSPENDED]


def bulk_bar(
    user: Any, form_id: str, target: str, hidden: list[tuple[str, str]], total: int, what: str
) -> dict[str, Any] | None:
    """The bulk action menu of one list (partials/_bulk_bar.html), for operators only:
    ``hidden`` holds the list's filter, ``total`` how many match it."""
    if not access.can_operate(user):
        return None
    return {
        "form_id": form_id,
        "target": target,
        "hidden": hidden,
        "signature": urlencode(hidden),  # bulk.js drops "all matching" when it changes
        "total": total,
        "what": what,
        "actions": offered(target, user),
    }


def _overview(client: DurableClient, user: Any) -> dict[str, Any]:
    counts = queries.counts_by_status(client.hub)
    failed_records = client.compensations(status=CompensationStatus.FAILED)
    failed_compensations = list(failed_records[:20])
    attention_count = queries.attention_count(client.hub)
    active = sum(counts[status] for status in ACTIVE)
    # Each list reads the one payload it shows (a list reads no other: query_client.py).
    failed = client.query(
        status=InstanceStatus.FAILED, limit=10, payloads=["failure"], user=user
    ).items
    return {
        "counts": [(status, counts[status]) for status in InstanceStatus.values],
        "total": sum(counts.values()),
        "attention": client.query(
            needs_attention=True, limit=20, payloads=["attention_reason"], user=user
        ).items,
        "attention_count": attention_count,
        "failed_compensations": failed_compensations,
        "failed": failed,
        "failed_endings": endings(client, failed),
        "failed_compensated": compensated_count(client) if counts[InstanceStatus.FAILED] else 0,
        "waiting": queries.longest_waiting(client.hub, limit=10),
        "bulk_attention": bulk_bar(
            user,
            "bulk-attention",
            "instances",
            [("attention", "on")],
            attention_count,
            "needing attention",
        ),
        "bulk_failed": bulk_bar(
            user,
            "bulk-failed",
            "instances",
            [("status", "failed")],
            counts[InstanceStatus.FAILED],
            "failed",
        ),
        "bulk_waiting": bulk_bar(
            user,
            "bulk-waiting",
            "instances",
            [("status", s) for s in ACTIVE],
            active,
            "active (pending, running, suspended)",
        ),
        "bulk_compensations": bulk_bar(
            user,
            "bulk-compensations",
            "compensations",
            [],
            failed_records.count() if failed_compensations else 0,
            "failed compensations",
        ),
    }


def _listing(client: DurableClient, params: QueryDict, user: Any) -> dict[str, Any]:
    form = ConsoleFilterForm(params)
    context: dict[str, Any] = {
        "form": form,
        "items": [],
        "error": "",
        "poll_seconds": poll_seconds(),
        "count_cap": COUNT_CAP,
    }
    if not form.is_valid():
        # Every wrong field named; nothing is listed (or changed) until it is fixed.
        context["error"] = "; ".join(e for errors in form.errors.values() for e in errors)
        return context
    f = form.cleaned_data
    sort = f["sort"] or DEFAULT_SORT
    try:
        page = client.query(
            search=f["q"].strip() or None,
            status=f["status"] or None,
            name=f["name"].strip() or None,
            business_key=f["business_key"].strip() or None,
            needs_attention=True if f["attention"] else None,
            attributes=f["attrs"] or None,
            created_after=f["created_after"],
            created_before=f["created_before"],
            updated_after=f["updated_after"],
            updated_before=f["updated_before"],
            sort=sort,
            cursor=f["cursor"] or None,
            limit=f["size"] or PAGE_SIZE,
            count=True,
            payloads=["custom_status", "attention_reason"],  # progress, attention flag
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
        endings=endings(client, page.items),
        filtered=any(f[k] for k in ("q", "status", "name", "business_key", "attention"))
        or any(f[k] for k in ConsoleFilterForm.NOT_BULK),
        paged=bool(f["cursor"]),
        first_query=filters.urlencode(),
        total=page.total,
        total_exact=page.total_exact,
        sort=sort,
        sort_label=dict(SORT_CHOICES)[sort],
        columns=_sort_links(filters, sort),
        saved_query=filters.urlencode(),
    )
    for key, cursor in (("next_query", page.next_cursor), ("previous_query", page.previous_cursor)):
        if cursor:
            filters["cursor"] = cursor
            context[key] = filters.urlencode()
    if access.can_operate(user):  # "select all N matching this filter" needs N
        hidden = [(key, f[key].strip()) for key in ("q", "name", "business_key") if f[key].strip()]
        hidden += [("status", f["status"])] if f["status"] else []
        hidden += [("attention", "on")] if f["attention"] else []
        if any(f[k] for k in ConsoleFilterForm.NOT_BULK):
            matching = 0  # bulk filters cannot repeat these: picked rows only
        elif not (f["cursor"] or page.next_cursor):  # the first page holds them all
            matching = len(page.items)
        elif page.total_exact:  # the list's own count of the same filter: no second search
            matching = page.total
        else:  # over the list's cap (10,000): counted up to the bulk limit
            matching = client.count_bulk_targets("instances", _bulk_filter(f), user=user)
        context["bulk"] = bulk_bar(user, "bulk-list", "instances", hidden, matching, "matching")
    return context


def _sort_links(filters: QueryDict, sort: str) -> list[dict[str, str]]:
    """The list's column headers: each sorts by its column (descending first; a second
    click reverses), back to the first page."""
    columns = []
    for key, label in SORTABLE:
        query = filters.copy()
        query.pop("cursor", None)
        current = sort.lstrip("-") == key
        query["sort"] = key if current and sort.startswith("-") else f"-{key}"
        columns.append(
            {
                "label": label,
                "query": query.urlencode(),
                "aria": ("descending" if sort.startswith("-") else "ascending") if current else "",
            }
        )
    return columns


def _bulk_filter(f: dict[str, Any]) -> dict[str, Any]:
    """The console filter as a bulk filter: the same rows as client.query shows."""
    return {
        "search": f["q"].strip(),
        "status": [f["status"]] if f["status"] else [],
        "name": f["name"].strip(),
        "business_key": f["business_key"].strip(),
        "needs_attention": True if f["attention"] else None,
    }


@require_GET
@require(access.can_view_console, NEEDS_VIEW)
def console_page(request: HttpRequest) -> HttpResponse:
    client = DurableClient()
    context = {
        **_overview(client, request.user),
        **_listing(client, request.GET, request.user),
        "names": client.orchestrator_names(),
        "poll_seconds": poll_seconds(),
        "saved_views": views_of(request.user),
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
