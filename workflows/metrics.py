"""``/metrics``: Prometheus text of this process's instruments and the hub's figures.

Two sources end up there:

* **Instruments** (workflows/counters.py), updated where things happen. With
  ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn, several ``durable worker`` processes on one
  machine) prometheus_client writes them to files in that directory and ``/metrics``
  sums every process's files.
* **Gauges of the durable state**, from :func:`workflows.figures.hub_figures` at each
  scrape, plus the activity limits' report. Any web process answers them the same.

``/metrics`` answers users who may see every instance (session with
``workflows.view_instance`` or ``operate_instance``: the console's rule, as the dashboard
shows the same figures) or ``Authorization: Bearer <token>`` with
``DURABLE_METRICS_TOKEN``; anyone else gets 401 (403 for other signed-in users).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .client import may_see_every_instance
from .conf import conf
from .figures import HubFigures, hub_figures
from .limits.config import limits_for
from .limits.report import limits_report
from .schedules.figures import schedule_families


def _family(
    name: str, doc: str, values: dict[Any, float], label: str | tuple[str, ...]
) -> GaugeMetricFamily:
    labels = [label] if isinstance(label, str) else list(label)
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in values.items():
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def figure_families(f: HubFigures) -> list[GaugeMetricFamily]:
    """The hub's figures as Prometheus gauges (also what the dashboard's tiles read)."""
    return [
        _family(
            "durable_instances",
            "Instances of this task hub by status (a status with more than 10,000: the "
            "planner's estimate, workflows.figures.status_counts).",
            f.instances_by_status,
            "status",
        ),
        GaugeMetricFamily(
            "durable_instances_needing_attention",
            "Manual recovery backlog: instances waiting on a person (failed compensation, "
            "replay that no longer matches the code).",
            value=f.needing_attention,
        ),
        GaugeMetricFamily(
            "durable_oldest_running_instance_age_seconds",
            "Age of the oldest pending or running instance (0 when none).",
            value=f.oldest_running_age,
        ),
        _family(
            "durable_oldest_wait_age_seconds",
            "Oldest wait on people or other systems: pending approval requests, and running "
            "instances that wait with nothing scheduled (an external event without timeout).",
            {"approval": f.oldest_approval_wait, "external_event": f.oldest_external_event_wait},
            "kind",
        ),
        _family(
            "durable_activity_tasks",
            "Activity tasks waiting for a worker (scheduled) or running, by activity.",
            f.tasks_by_activity,
            ("activity", "status"),
        ),
        _family(
            "durable_queue_depth",
            "Work waiting: inbox messages not yet applied by an episode, activity tasks not "
            "yet started, timers due but not yet fired.",
            {
                "inbox": f.inbox_depth,
                "activities": f.activities_waiting,
                "timers_due": f.timers_due,
            },
            "queue",
        ),
        GaugeMetricFamily(
            "durable_fan_outs_in_flight",
            "Running instances with two or more activities in flight.",
            value=f.fan_outs_in_flight,
        ),
        _family(
            "durable_fan_out_tasks",
            "Activity tasks of the current execution of instances with a fan-out in flight: "
            "done (finished) and open.",
            {"done": f.fan_out_done, "open": f.fan_out_open},
            "state",
        ),
        _family(
            "durable_compensations",
            "Compensation records by status.",
            f.compensations_by_status,
            "status",
        ),
        _family(
            "durable_compensation_attempts",
            "Attempts made by compensations (all records kept), by compensation activity.",
            f.compensation_attempts,
            "activity",
        ),
        _family(
            "durable_compensations_failed",
            "Compensations that failed for good and wait for an operator, by activity.",
            f.compensations_failed,
            "activity",
        ),
        GaugeMetricFamily(
            "durable_instances_over_history_warning",
            "Active instances whose history reached DURABLE_HISTORY_WARNING_EVENTS.",
            value=f.over_history_warning,
        ),
    ]


class DatabaseCollector(Collector):
    """The durable state of one task hub as gauges, read at each scrape."""

    def __init__(self, hub: str) -> None:
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from figure_families(hub_figures(self.hub))
        yield from self._limits()
        yield from schedule_families(self.hub)

    def _limits(self) -> Iterator[GaugeMetricFamily]:
        """Limited activities (workflows/limits/): slots in use, waiting tasks, oldest wait."""
        rows = limits_report(self.hub)
        if not rows:
            return
        labels = ["activity"]
        running = GaugeMetricFamily(
            "durable_activity_limit_running",
            "Tasks of a limited activity holding a slot (running, lease live).",
            labels=labels,
        )
        limit = GaugeMetricFamily(
            "durable_activity_limit_max_concurrency",
            "max_concurrency of a limited activity.",
            labels=labels,
        )
        rate = GaugeMetricFamily(
            "durable_activity_limit_rate_per_second",
            "rate_limit of a limited activity, in starts per second.",
            labels=labels,
        )
        waiting = GaugeMetricFamily(
            "durable_activity_limit_waiting",
            "Tasks of a limited activity waiting for a slot or for the rate.",
            labels=labels,
        )
        oldest = GaugeMetricFamily(
            "durable_activity_limit_oldest_wait_seconds",
            "How long the oldest waiting task of a limited activity has waited (0 when none).",
            labels=labels,
        )
        for row in rows:
            running.add_metric([row.activity], row.running)
            waiting.add_metric([row.activity], row.waiting)
            oldest.add_metric([row.activity], row.oldest_wait_seconds)
            if row.max_concurrency is not None:
                limit.add_metric([row.activity], row.max_concurrency)
            per = limits_for(row.activity).rate
            if per is not None:
                rate.add_metric([row.activity], per[0] / per[1])
        yield from (running, limit, rate, waiting, oldest)


class _Forward(Collector):
    """This process's instruments (the default registry) inside a per-scrape registry."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def scrape_registry(hub: str | None = None, database: bool = True) -> CollectorRegistry:
    """Everything one scrape shows: instruments (all processes in multiprocess mode), gauges."""
    registry = CollectorRegistry()
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Forward())
    if database:
        registry.register(DatabaseCollector(hub or conf.TASK_HUB))
    return registry


def serve_worker_metrics(port: int, addr: str = "0.0.0.0") -> Any:
    """Serve this process's instruments on ``port`` in a thread; returns the server.

    ``durable worker --metrics-port 9100``: scrape every worker process (no database
    gauges here: the web's ``/metrics`` has those). Stop it with ``server.shutdown()``.
    """
    server, _thread = start_http_server(port, addr=addr, registry=scrape_registry(database=False))
    return server


# -- the view ------------------------------------------------------------------------------
def _denied(request: HttpRequest) -> HttpResponse | None:
    token = conf.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        given = header[7:].strip()
        if token and hmac.compare_digest(given.encode(), token.encode()):
            return None
        return _unauthorized("invalid metrics token")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # Counts of every instance: the console's rule, whatever the user's staff flag.
        if may_see_every_instance(user):
            return None
        return HttpResponse(
            "metrics need the permission workflows.view_instance\n",
            status=403,
            content_type="text/plain",
        )
    return _unauthorized(
        "log in with workflows.view_instance, or send Authorization: Bearer <token>"
    )


def _unauthorized(message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text format (a viewer's session or the bearer token)."""
    denied = _denied(request)
    if denied is not None:
        return denied
    body = generate_latest(scrape_registry())
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


# Included by workflows/urls.py as ``path("metrics", include("workflows.metrics"))``.
urlpatterns = [path("", metrics_view, name="metrics")]
