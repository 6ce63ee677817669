"""Schedules as /metrics gauges: how many (active, paused), late starts, and runs not
started by a policy (skipped by overlap, missed by catch-up). Read at each scrape."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Q, Sum
from prometheus_client.core import GaugeMetricFamily

from .models import Schedule


def schedule_families(hub: str) -> Iterator[GaugeMetricFamily]:
    """The gauges of ``hub``'s schedules (one query).

    Example::

        for family in schedule_families("default"):
            registry_collector_output.append(family)
    """
    totals = Schedule.objects.filter(task_hub=hub).aggregate(
        active=Count("pk", filter=Q(paused=False)),
        paused=Count("pk", filter=Q(paused=True)),
        late=Sum("late_starts"),
        skipped=Sum("skipped"),
        missed=Sum("missed"),
    )
    schedules = GaugeMetricFamily(
        "durable_schedules", "Schedules by state", labels=["hub", "state"]
    )
    schedules.add_metric([hub, "active"], totals["active"])
    schedules.add_metric([hub, "paused"], totals["paused"])
    yield schedules
    late = GaugeMetricFamily(
        "durable_schedule_late_starts",
        "Scheduled runs started more than 60 s (plus jitter) after their time",
        labels=["hub"],
    )
    late.add_metric([hub], totals["late"] or 0)
    yield late
    skipped = GaugeMetricFamily(
        "durable_schedule_runs_not_started",
        "Scheduled runs not started, by the policy that decided it",
        labels=["hub", "policy"],
    )
    skipped.add_metric([hub, "overlap"], totals["skipped"] or 0)
    skipped.add_metric([hub, "catchup"], totals["missed"] or 0)
    yield skipped
