"""Prometheus metrics: counters on the hot path, gauges read from the database at scrape.

Two sources end up on ``/metrics``:

* **Instruments** updated where things happen (episodes in ``store.run_episode``,
  activity attempts in ``runtime/activities.py``): counters and histograms only, no
  queries. With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn, several ``durable
  worker`` processes on one machine) prometheus_client writes them to files in that
  directory and ``/metrics`` sums every process's files.
* **Gauges of the durable state** (:class:`DatabaseCollector`), computed from the
  database of this task hub at each scrape: instances by status, backlog needing a
  person, queue depths, oldest waits. Any web process answers them the same.

``/metrics`` answers staff users (session) or ``Authorization: Bearer <token>``
with ``DURABLE_METRICS_TOKEN``; anyone else gets 401 (403 for non-staff users).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Min, OuterRef, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .engine import OrchestrationStatus, PayloadTooLarge
from .engine import actions as act
from .engine import events as ev

# -- instruments (hot path: a few label look-ups and additions, never a query) ----------
EPISODES = Counter("durable_episodes", "Orchestrator episodes committed.", ["orchestrator"])
EPISODE_SECONDS = Histogram(
    "durable_episode_engine_seconds",
    "Engine time of one episode (replay when not cached, plus applying the new events).",
    ["orchestrator"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REPLAY_SECONDS = Histogram(
    "durable_replay_seconds",
    "Time to rebuild an orchestration from its history (episodes that missed the cache).",
    ["orchestrator"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HISTORY_LENGTH = Histogram(
    "durable_history_length_events",
    "History length of the execution after each episode.",
    ["orchestrator"],
    buckets=(10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000),
)
FAN_OUT_WIDTH = Histogram(
    "durable_fan_out_width",
    "Activities and sub-orchestrations started by one episode (episodes starting any).",
    ["orchestrator"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
FAN_IN_RESULTS = Histogram(
    "durable_fan_in_results",
    "Task results applied by one episode (episodes applying any): fan-in batching.",
    ["orchestrator"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
ORCHESTRATIONS_FINISHED = Counter(
    "durable_orchestrations_finished",
    "Executions that ended, by how (completed, failed, terminated, continued_as_new).",
    ["orchestrator", "status"],
)
REPLAY_FAILURES = Counter(
    "durable_replay_failures",
    "Episodes refused because replay no longer matched the code (instance needs attention).",
    ["orchestrator"],
)
ACTIVITY_ATTEMPTS = Counter(
    "durable_activity_attempts",
    "Activity attempts run, by outcome (completed or failed).",
    ["activity", "outcome"],
)
ACTIVITY_RETRIES = Counter(
    "durable_activity_retries",
    "Activity attempts after the first (retries under a RetryPolicy).",
    ["activity"],
)
ACTIVITY_REDELIVERIES = Counter(
    "durable_activity_redeliveries",
    "Activity attempts run again by a worker (lease expired, message redelivered).",
    ["activity"],
)
ACTIVITY_SECONDS = Histogram(
    "durable_activity_duration_seconds",
    "Run time of activity attempts.",
    ["activity"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
PAYLOADS_REJECTED = Counter(
    "durable_payloads_rejected",
    "Values refused for being over DURABLE_MAX_PAYLOAD_BYTES, by what they were.",
    ["what"],
)

_RESULT_EVENTS = (
    ev.ActivityCompleted,
    ev.ActivityFailedEvent,
    ev.SubOrchestrationCompleted,
    ev.SubOrchestrationFailedEvent,
)
_STARTS = (act.ScheduleActivity, act.StartSubOrchestration)


class _EpisodeSeries:
    """The labelled series of one orchestrator, looked up once (``labels()`` takes a lock)."""

    def __init__(self, orchestrator: str) -> None:
        self.episodes = EPISODES.labels(orchestrator)
        self.engine_seconds = EPISODE_SECONDS.labels(orchestrator)
        self.replay_seconds = REPLAY_SECONDS.labels(orchestrator)
        self.history_length = HISTORY_LENGTH.labels(orchestrator)
        self.fan_out = FAN_OUT_WIDTH.labels(orchestrator)
        self.fan_in = FAN_IN_RESULTS.labels(orchestrator)


_episode_series: dict[str, _EpisodeSeries] = {}


def observe_episode(
    orchestrator: str,
    result: Any,
    new_events: Iterable[ev.HistoryEvent],
    engine_seconds: float,
    replay_seconds: float | None,
) -> None:
    """Record one committed episode (called by ``store.run_episode``)."""
    series = _episode_series.get(orchestrator)
    if series is None:
        series = _episode_series.setdefault(orchestrator, _EpisodeSeries(orchestrator))
    series.episodes.inc()
    series.engine_seconds.observe(engine_seconds)
    if replay_seconds is not None:
        series.replay_seconds.observe(replay_seconds)
    series.history_length.observe(result.history_length)
    started = sum(1 for a in result.actions if isinstance(a, _STARTS))
    if started:
        series.fan_out.observe(started)
    results = sum(1 for e in new_events if isinstance(e, _RESULT_EVENTS))
    if results:
        series.fan_in.observe(results)
    if result.status != OrchestrationStatus.RUNNING:
        ORCHESTRATIONS_FINISHED.labels(orchestrator, str(result.status)).inc()
        failure = result.failure
        if failure is not None and failure.is_instance_of(PayloadTooLarge):
            PAYLOADS_REJECTED.labels("orchestrator_output").inc()


def observe_replay_failure(orchestrator: str) -> None:
    REPLAY_FAILURES.labels(orchestrator).inc()


def observe_activity(name: str, attempt: int, runs: int, ok: bool, seconds: float) -> None:
    """Record one activity attempt (called by ``runtime/activities.execute_task``)."""
    ACTIVITY_ATTEMPTS.labels(name, "completed" if ok else "failed").inc()
    ACTIVITY_SECONDS.labels(name).observe(seconds)
    if attempt > 1:
        ACTIVITY_RETRIES.labels(name).inc()
    if runs > 1:
        ACTIVITY_REDELIVERIES.labels(name).inc()


def observe_payload_rejected(what: str) -> None:
    PAYLOADS_REJECTED.labels(what).inc()


# -- gauges from the database, computed at scrape time ---------------------------------------
class DatabaseCollector(Collector):
    """The durable state of one task hub as gauges (a handful of aggregate queries)."""

    def __init__(self, hub: str) -> None:
        self.hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from .models import (
            ActivityTask,
            ApprovalRequest,
            CompensationRecord,
            InboxMessage,
            Instance,
            Timer,
        )
        from .statuses import (
            ACTIVE,
            ApprovalStatus,
            CompensationStatus,
            InstanceStatus,
            TaskStatus,
        )

        hub, now = self.hub, timezone.now()
        instances = Instance.objects.filter(task_hub=hub)

        def age(moment: Any) -> float:
            return max(0.0, (now - moment).total_seconds()) if moment else 0.0

        by_status = dict(
            instances.order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        family = GaugeMetricFamily(
            "durable_instances", "Instances of this task hub by status.", labels=["status"]
        )
        for status in InstanceStatus.values:
            family.add_metric([status], by_status.get(status, 0))
        yield family

        yield GaugeMetricFamily(
            "durable_instances_needing_attention",
            "Manual recovery backlog: instances waiting on a person (failed compensation, "
            "replay that no longer matches the code).",
            value=instances.filter(needs_attention=True).count(),
        )

        oldest = instances.filter(
            status__in=[InstanceStatus.PENDING, InstanceStatus.RUNNING]
        ).aggregate(m=Min("created_at"))["m"]
        yield GaugeMetricFamily(
            "durable_oldest_running_instance_age_seconds",
            "Age of the oldest pending or running instance (0 when none).",
            value=age(oldest),
        )

        family = GaugeMetricFamily(
            "durable_oldest_wait_age_seconds",
            "Oldest wait on people or other systems: pending approval requests, and running "
            "instances that wait with nothing scheduled (an external event without timeout).",
            labels=["kind"],
        )
        approval = ApprovalRequest.objects.filter(
            instance__task_hub=hub, status=ApprovalStatus.PENDING
        ).aggregate(m=Min("created_at"))["m"]
        family.add_metric(["approval"], age(approval))
        family.add_metric(["external_event"], age(self._oldest_idle_wait(instances)))
        yield family

        waiting_tasks = ActivityTask.objects.filter(
            task_hub=hub, status__in=[TaskStatus.SCHEDULED, TaskStatus.RUNNING]
        )
        family = GaugeMetricFamily(
            "durable_activity_tasks",
            "Activity tasks waiting for a worker (scheduled) or running, by activity.",
            labels=["activity", "status"],
        )
        for name, status, n in (
            waiting_tasks.order_by()
            .values_list("name", "status")
            .annotate(n=Count("pk"))
            .values_list("name", "status", "n")
        ):
            family.add_metric([name, status], n)
        yield family

        family = GaugeMetricFamily(
            "durable_queue_depth",
            "Work waiting: inbox messages not yet applied by an episode, activity tasks not "
            "yet started, timers due but not yet fired.",
            labels=["queue"],
        )
        family.add_metric(
            ["inbox"],
            InboxMessage.objects.filter(instance__task_hub=hub)
            .exclude(instance__status=InstanceStatus.SUSPENDED)
            .count(),
        )
        family.add_metric(["activities"], waiting_tasks.filter(status=TaskStatus.SCHEDULED).count())
        due = Timer.objects.filter(task_hub=hub, fired=False, fire_at__lte=now)  # timer_due_idx
        family.add_metric(["timers_due"], due.count())
        yield family

        fan_outs = list(
            ActivityTask.objects.filter(
                task_hub=hub,
                instance__status=InstanceStatus.RUNNING,
                execution_id=F("instance__execution_id"),
            )
            .order_by()
            .values("instance_id")
            .annotate(
                total=Count("pk"),
                open=Count("pk", filter=Q(status__in=[TaskStatus.SCHEDULED, TaskStatus.RUNNING])),
            )
            .filter(open__gte=2)
            .values_list("total", "open")
        )
        yield GaugeMetricFamily(
            "durable_fan_outs_in_flight",
            "Running instances with two or more activities in flight.",
            value=len(fan_outs),
        )
        family = GaugeMetricFamily(
            "durable_fan_out_tasks",
            "Activity tasks of the current execution of instances with a fan-out in flight: "
            "done (finished) and open.",
            labels=["state"],
        )
        family.add_metric(["done"], sum(total - open_ for total, open_ in fan_outs))
        family.add_metric(["open"], sum(open_ for _total, open_ in fan_outs))
        yield family

        compensations = CompensationRecord.objects.filter(instance__task_hub=hub).order_by()
        by_status = dict(
            compensations.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
        )
        family = GaugeMetricFamily(
            "durable_compensations", "Compensation records by status.", labels=["status"]
        )
        for status in CompensationStatus.values:
            family.add_metric([status], by_status.get(status, 0))
        yield family
        family = GaugeMetricFamily(
            "durable_compensation_attempts",
            "Attempts made by compensations (all records kept), by compensation activity.",
            labels=["activity"],
        )
        for name, attempts in (
            compensations.values_list("activity")
            .annotate(n=Sum("attempts"))
            .values_list("activity", "n")
        ):
            family.add_metric([name], attempts or 0)
        yield family
        family = GaugeMetricFamily(
            "durable_compensations_failed",
            "Compensations that failed for good and wait for an operator, by activity.",
            labels=["activity"],
        )
        for name, n in (
            compensations.filter(status=CompensationStatus.FAILED)
            .values_list("activity")
            .annotate(n=Count("pk"))
            .values_list("activity", "n")
        ):
            family.add_metric([name], n)
        yield family

        threshold = int(getattr(settings, "DURABLE_HISTORY_WARNING_EVENTS", 10000))
        yield GaugeMetricFamily(
            "durable_instances_over_history_warning",
            "Active instances whose history reached DURABLE_HISTORY_WARNING_EVENTS.",
            value=instances.filter(
                status__in=ACTIVE, history_length__gte=max(threshold, 1)
            ).count(),
        )
        yield from self._limits()

    def _limits(self) -> Iterator[GaugeMetricFamily]:
        """Limited activities (workflows/limits.py): slots in use, waiting tasks, oldest wait."""
        from .limits import limits_for, limits_report

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

    def _oldest_idle_wait(self, instances: Any) -> Any:
        """Last change of the oldest running instance that waits with nothing scheduled."""
        from django.db.models import Exists

        from .models import ActivityTask, ApprovalRequest, InboxMessage, Instance, Timer
        from .statuses import ACTIVE, ApprovalStatus, InstanceStatus, TaskStatus

        pk = OuterRef("pk")
        idle = (
            instances.filter(status=InstanceStatus.RUNNING, history_length__gt=0)
            .exclude(Exists(InboxMessage.objects.filter(instance=pk)))
            .exclude(
                Exists(
                    ActivityTask.objects.filter(
                        instance=pk, status__in=[TaskStatus.SCHEDULED, TaskStatus.RUNNING]
                    )
                )
            )
            .exclude(Exists(Timer.objects.filter(instance=pk, fired=False)))
            .exclude(Exists(Instance.objects.filter(parent=pk, status__in=ACTIVE)))
            .exclude(
                Exists(ApprovalRequest.objects.filter(instance=pk, status=ApprovalStatus.PENDING))
            )
        )
        return idle.aggregate(m=Min("updated_at"))["m"]


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
        registry.register(DatabaseCollector(hub or settings.DURABLE_TASK_HUB))
    return registry


def serve_worker_metrics(port: int, addr: str = "0.0.0.0") -> Any:
    """Serve this process's instruments on ``port`` in a thread; returns the server.

    ``durable worker --metrics-port 9100``: scrape every worker process (no database
    gauges here: the web's ``/metrics`` has those). Stop it with ``server.shutdown()``.
    """
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=addr, registry=scrape_registry(database=False))
    return server


# -- the view ------------------------------------------------------------------------------
def _denied(request: HttpRequest) -> HttpResponse | None:
    token = str(getattr(settings, "DURABLE_METRICS_TOKEN", "") or "")
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        given = header[7:].strip()
        if token and hmac.compare_digest(given.encode(), token.encode()):
            return None
        return _unauthorized("invalid metrics token")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if user.is_staff:
            return None
        return HttpResponse("metrics are for staff users\n", status=403, content_type="text/plain")
    return _unauthorized("log in as a staff user or send Authorization: Bearer <token>")


def _unauthorized(message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text format (staff session or bearer token)."""
    denied = _denied(request)
    if denied is not None:
        return denied
    body = generate_latest(scrape_registry())
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


# Included by workflows/urls.py as ``path("metrics", include("workflows.metrics"))``.
urlpatterns = [path("", metrics_view, name="metrics")]
