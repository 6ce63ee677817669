"""Operators' dashboard: the figures of /metrics, completions vs failures, versions still
draining, the largest histories and activity limits, on one page that refreshes itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from workflows.client import DurableClient
from workflows.limits import report as limit_report
from workflows.retention import history_threshold, history_warning
from workflows.statuses import InstanceStatus
from workflows.versioning import VersionDrain, version_drain_report

from . import access, charts, queries
from .console import NEEDS_VIEW
from .display import human_duration
from .http import fragment, require

log = logging.getLogger("workflows.ui")

BODY = "workflows/partials/_dashboard_body.html"
REFRESH_SECONDS = 10  # aggregates over the whole hub: polled, not redone on every change
LARGEST = 10


@dataclass(frozen=True)
class ChartRange:
    key: str  # ?range=
    label: str
    unit: Literal["hour", "day"]
    count: int
    tick: str  # strftime of the labels under the axis
    when: str  # strftime of a bucket in its tooltip


RANGES = {
    r.key: r
    for r in (
        ChartRange("24h", "last 24 hours", "hour", 24, "%H:00", "%Y-%m-%d %H:00 UTC"),
        ChartRange("14d", "last 14 days", "day", 14, "%d %b", "%a %Y-%m-%d"),
    )
}
DEFAULT_RANGE = "24h"


@dataclass(frozen=True)
class Tile:
    value: str
    label: str
    tone: str = ""  # "" | "hot" (needs a look) | "bad" (something failed)
    href: str = ""
    hint: str = ""


def _age(seconds: float) -> str:
    """A wait in words; "—" when nothing waits."""
    return human_duration(timedelta(seconds=seconds)) if seconds > 0 else "—"


def _tiles(g: queries.Gauges) -> list[tuple[str, list[Tile]]]:
    """The gauges as tiles, in three rows: instances, oldest waits, queues."""
    console = reverse("ui:console")

    def one(name: str, *labels: str) -> int:
        return int(g.get(name, {}).get(labels, 0))

    def age(name: str, *labels: str) -> str:
        return _age(g.get(name, {}).get(labels, 0.0))

    attention = one("durable_instances_needing_attention")
    failed = one("durable_instances", InstanceStatus.FAILED)
    failed_compensations = one("durable_compensations", "failed")
    attention_href = f"{console}?attention=on#all-instances"
    instances = [
        Tile(
            str(attention),
            "need attention",
            "hot" if attention else "",
            attention_href,
            "Failed compensations and replays that no longer match the code.",
        ),
        *(
            Tile(
                str(one("durable_instances", status)),
                status,
                "bad" if status == InstanceStatus.FAILED and failed else "",
                f"{console}?status={status}#all-instances",
            )
            for status in InstanceStatus.values
        ),
    ]
    waits = [
        Tile(
            age("durable_oldest_running_instance_age_seconds"),
            "oldest running",
            hint="Age of the oldest pending or running instance.",
        ),
        Tile(
            age("durable_oldest_wait_age_seconds", "approval"),
            "oldest approval wait",
            hint="The oldest approval request nobody has decided yet.",
        ),
        Tile(
            age("durable_oldest_wait_age_seconds", "external_event"),
            "oldest event wait",
            hint="The oldest running instance that waits with nothing scheduled: an event.",
        ),
        Tile(
            str(failed_compensations),
            "failed compensations",
            "bad" if failed_compensations else "",
            attention_href,
            "Compensations that failed for good: retry, resolve or skip them.",
        ),
    ]
    queue = [
        ("inbox", "inbox messages", "Events, results and timers not yet applied by an episode."),
        ("activities", "activities queued", "Tasks waiting for a worker or an activity limit."),
        ("timers_due", "timers due", "Timers whose time has come but have not fired yet."),
    ]
    queues = [Tile(str(one("durable_queue_depth", k)), text, hint=why) for k, text, why in queue]
    queues.append(
        Tile(
            str(one("durable_fan_outs_in_flight")),
            "fan-outs in flight",
            hint="Running instances with two or more activities in flight.",
        )
    )
    return [("Instances", instances), ("Oldest waits", waits), ("Queues", queues)]


def _chart(hub: str, chosen: ChartRange) -> dict[str, Any]:
    buckets = queries.outcomes(hub, chosen.unit, chosen.count)
    completed = sum(b.completed for b in buckets)
    failed = sum(b.failed for b in buckets)
    title = f"Completed and failed instances per {chosen.unit}, {chosen.label}"
    bars = [
        charts.Bar(b.start.strftime(chosen.tick), b.start.strftime(chosen.when), *b.counts)
        for b in buckets
    ]
    return {
        "svg": charts.outcome_chart(bars, f"{title}: {completed} completed, {failed} failed"),
        "title": title,
        "completed": completed,
        "failed": failed,
    }


def _versions(hub: str) -> tuple[list[tuple[str, list[VersionDrain]]], int]:
    """Orchestrators worth a look (several versions, or code missing), and how many others."""
    report = version_drain_report(hub)
    shown = [
        (name, versions)
        for name, versions in report.items()
        if len(versions) > 1 or any(not v.registered for v in versions)
    ]
    return shown, len(report) - len(shown)


def _limits(hub: str) -> tuple[list[Any], str]:
    """Rows of ``workflows.limits.report.limits_report``, or why there are none to show."""
    try:
        with transaction.atomic():  # a savepoint: a failed query must not spoil the page's
            rows = limit_report.limits_report(hub)
            return [(row, _age(row.oldest_wait_seconds)) for row in rows], ""
    except Exception as exc:  # noqa: BLE001 - one section must not take the dashboard down
        log.warning("dashboard: activity limits not shown: %s", exc)
        return [], f"Activity limits could not be read: {exc}"


def _context(request: HttpRequest) -> dict[str, Any]:
    hub = DurableClient().hub
    chosen = RANGES.get(request.GET.get("range", ""), RANGES[DEFAULT_RANGE])
    versions, quiet_orchestrators = _versions(hub)
    limits, limits_error = _limits(hub)
    return {
        "tiles": _tiles(queries.gauges(hub)),
        "ranges": RANGES.values(),
        "range": chosen,
        "chart": _chart(hub, chosen),
        "versions": versions,
        "quiet_orchestrators": quiet_orchestrators,
        "histories": [(i, history_warning(i)) for i in queries.largest_histories(hub, LARGEST)],
        "history_threshold": history_threshold(),
        "limits": limits,
        "limits_error": limits_error,
        "refresh_seconds": REFRESH_SECONDS,
    }


@require_GET
@require(access.can_view_console, NEEDS_VIEW)
def dashboard_page(request: HttpRequest) -> HttpResponse:
    return render(request, "workflows/dashboard.html", _context(request))


@require_GET
@require(access.can_view_console, NEEDS_VIEW)
def dashboard_body(request: HttpRequest) -> HttpResponse:
    """The page body alone: polled every REFRESH_SECONDS."""
    return fragment(request, BODY, _context(request))
