"""Orchestrator versions in production: draining, replay checks, the worker start-up check.

Each instance is pinned to the orchestrator version it started with (``Instance.version``,
recorded in its ExecutionStarted event, kept across continue-as-new); new starts take
the latest registered version unless the caller names one. Old versions must stay
registered until their instances have drained:

* :func:`version_drain_report` — per orchestrator, how many active instances run on
  each version (the UI shows it; a drained old version can be deleted from the code).
* :func:`check_replay` — replays the history of every active (and optionally recently
  finished) instance against the code now loaded, writing nothing, and lists every
  instance it no longer matches. ``manage.py durable check-replay`` runs it; run it
  before a deploy, with the new code.
* :func:`verify_deployment` — the cheap check a worker runs at start-up: every
  (orchestrator, version) of an active instance and every activity of an outstanding
  task must be registered. Skipped with ``--force`` or ``DURABLE_SKIP_REPLAY_CHECK``;
  ``DURABLE_STARTUP_FULL_REPLAY`` adds the full replay of :func:`check_replay`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Min
from django.utils import timezone

from .conf import conf
from .engine import (
    DurableError,
    IncompatibleCode,
    InstanceRef,
    NonDeterminismError,
    Orchestration,
    UnknownOrchestratorError,
    default_registry,
)
from .engine import events as ev
from .engine.registry import Registry
from .models import ActivityTask, HistoryEvent, Instance
from .statuses import ACTIVE, TERMINAL

log = logging.getLogger("workflows.runtime")


# -- draining ----------------------------------------------------------------------------
# Active instances of one version are counted up to this many (a bounded read of the
# partial index inst_active_version_idx); beyond, the figure is a MoreThan ("1,000+").
# Draining asks whether a version still has instances and, when it has few, how many.
# The price is one index entry read per instance counted, for every version at each
# refresh of the dashboard: at 10 M instances (100,000 active over 24 versions) counting
# them all took ~37 ms, up to 1,000 per version ~9 ms, and it no longer grows with them.
DRAIN_COUNT_CAP = 1_000


class MoreThan(int):
    """A count that stopped at its cap: more than this many, shown as "1,000+". Still an
    int for comparisons (``MoreThan(1_000) > 0``).

    Example::

        str(MoreThan(1_000))  # "1,000+"
    """

    def __str__(self) -> str:
        return f"{int(self):,}+"


@dataclass(frozen=True)
class VersionDrain:
    """Active instances of one orchestrator version."""

    name: str
    version: int
    active: int  # pending, running or suspended on this version; MoreThan above the cap
    registered: bool  # the code of this version is loaded in this process
    latest: bool  # new instances start on this version
    oldest_created_at: datetime | None = None

    @property
    def drained(self) -> bool:
        return self.active == 0

    @property
    def removable(self) -> bool:
        """Safe to delete from the code: nothing runs on it and nothing new will."""
        return self.drained and not self.latest

    @property
    def active_exact(self) -> bool:
        """False when counting stopped at :data:`DRAIN_COUNT_CAP` (``active`` is a MoreThan)."""
        return not isinstance(self.active, MoreThan)


def version_drain_report(
    hub: str | None = None, registry: Registry | None = None
) -> dict[str, list[VersionDrain]]:
    """Per orchestrator name, its versions (oldest first) with their active instances.

    Lists every registered version (drained ones with ``active=0``) and every version
    that still has active instances, registered or not (``registered=False``: the code
    was removed too early; those instances cannot run). ``active`` is exact up to
    :data:`DRAIN_COUNT_CAP`, a :class:`MoreThan` above.

    Example::

        for name, versions in version_drain_report("default").items():
            for v in versions:
                print(name, v.version, v.active, "latest" if v.latest else "")
    """
    hub = hub or conf.TASK_HUB
    registry = registry or default_registry
    counts = _active_versions(hub)
    keys = set(counts)
    for name in registry.orchestrator_names():
        keys.update((name, version) for version in registry.orchestrator_versions(name))
    report: dict[str, list[VersionDrain]] = {}
    for name, version in sorted(keys):
        versions = registry.orchestrator_versions(name)
        active, oldest = counts.get((name, version), (0, None))
        report.setdefault(name, []).append(
            VersionDrain(
                name=name,
                version=version,
                active=active,
                registered=version in versions,
                latest=bool(versions) and version == max(versions),
                oldest_created_at=oldest,
            )
        )
    return report


def _active_versions(hub: str) -> dict[tuple[str, int], tuple[int, datetime]]:
    """(name, version) of the active instances -> (count capped at DRAIN_COUNT_CAP, oldest
    created_at)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_DRAIN_SQL, {"hub": hub, "limit": DRAIN_COUNT_CAP + 1})
            rows = cursor.fetchall()
    else:  # SQLite and the rest: one grouped query over the active instances
        rows = (
            Instance.objects.filter(task_hub=hub, status__in=ACTIVE)
            .order_by()
            .values_list("name", "version")
            .annotate(n=Count("pk"), oldest=Min("created_at"))
        )
    return {
        (name, version): (n if n <= DRAIN_COUNT_CAP else MoreThan(DRAIN_COUNT_CAP), oldest)
        for name, version, n, oldest in rows
    }


# The statuses as literals (fixed names, nothing from outside): the planner then proves
# the query's predicate implies the partial index's, whatever the binding of parameters.
_ACTIVE_IN = "status IN ({})".format(", ".join(f"'{s}'" for s in sorted(ACTIVE)))
_ACTIVE_ROWS = f"{Instance._meta.db_table} WHERE task_hub = %(hub)s AND {_ACTIVE_IN}"
# A skip scan of inst_active_version_idx (task_hub, name, version, created_at, id): the
# recursive part jumps to the next (name, version) after the last one found, one index
# descent per version, never reading each active instance. Per version, the count reads at
# most DRAIN_COUNT_CAP + 1 entries and the oldest is the first entry.
_DRAIN_SQL = f"""
WITH RECURSIVE versions (name, version) AS (
    (SELECT name, version FROM {_ACTIVE_ROWS} ORDER BY name, version LIMIT 1)
    UNION ALL
    SELECT later.name, later.version FROM versions CROSS JOIN LATERAL (
        SELECT name, version FROM {_ACTIVE_ROWS}
            AND (name, version) > (versions.name, versions.version)
        ORDER BY name, version LIMIT 1
    ) AS later
)
SELECT name, version,
    (SELECT count(*) FROM (
        SELECT 1 FROM {_ACTIVE_ROWS}
            AND name = versions.name AND version = versions.version
        LIMIT %(limit)s) AS capped),
    (SELECT min(created_at) FROM {_ACTIVE_ROWS}
        AND name = versions.name AND version = versions.version)
FROM versions
"""


# -- problems ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayProblem:
    """One instance whose history the loaded code no longer replays the same way.

    ``kind``: ``nondeterminism`` (a different step), ``unknown_version`` (orchestrator
    or version not registered), ``different_result`` (a finished instance now ends
    with another status or output), ``unknown_activity``, or ``error``.
    """

    instance_id: str
    name: str
    version: int
    status: str
    kind: str
    message: str
    step: int | None = None

    def __str__(self) -> str:
        where = f" at step {self.step}" if self.step is not None else ""
        return (
            f"{self.instance_id} ({self.name} v{self.version}, {self.status}){where}: "
            f"{self.kind}: {self.message}"
        )


@dataclass(frozen=True)
class MissingCode:
    """Active work that needs code this process does not register (start-up check)."""

    kind: str  # "orchestrator" or "activity"
    name: str
    version: int | None
    instances: int
    example_instance_id: str

    def __str__(self) -> str:
        what = (
            f"orchestrator {self.name!r} version {self.version}"
            if self.kind == "orchestrator"
            else f"activity {self.name!r}"
        )
        uses = "active instance(s) run on it" if self.kind == "orchestrator" else "task(s) wait"
        return (
            f"{what} is not registered, but {self.instances} {uses} "
            f"(e.g. instance {self.example_instance_id!r})"
        )


@dataclass
class ReplayReport:
    """What :func:`check_replay` checked and found."""

    active_checked: int = 0
    finished_checked: int = 0
    problems: list[ReplayProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "active_checked": self.active_checked,
            "finished_checked": self.finished_checked,
            "problems": [asdict(p) for p in self.problems],
        }


# -- the full check ----------------------------------------------------------------------------
def check_replay(
    hub: str | None = None,
    registry: Registry | None = None,
    *,
    name: str | None = None,
    include_finished: bool = False,
    finished_within: timedelta = timedelta(days=7),
    finished_limit: int = 1000,
) -> ReplayReport:
    """Replay active (and recently finished) instances against ``registry``; write nothing.

    A finished instance must also end the same way (status, output, failure type and
    message). Outstanding activity tasks must name registered activities.

    Example::

        report = check_replay(include_finished=True)
        for problem in report.problems:
            print(problem)
    """
    hub = hub or conf.TASK_HUB
    registry = registry or default_registry
    report = ReplayReport()
    instances = Instance.objects.filter(task_hub=hub)
    if name:
        instances = instances.filter(name=name)
    for instance in instances.filter(status__in=ACTIVE).order_by("pk").iterator(chunk_size=200):
        report.active_checked += 1
        problem = replay_instance(instance, registry)
        if problem is not None:
            report.problems.append(problem)
    if include_finished:
        since = timezone.now() - finished_within
        finished = (
            instances.filter(status__in=TERMINAL, completed_at__gte=since)  # inst_completed_idx
            .order_by("-completed_at")[:finished_limit]
            .iterator(chunk_size=200)
        )
        for instance in finished:
            report.finished_checked += 1
            problem = replay_instance(instance, registry)
            if problem is not None:
                report.problems.append(problem)
    report.problems.extend(_unknown_activity_problems(hub, registry, name))
    return report


def replay_instance(instance: Instance, registry: Registry) -> ReplayProblem | None:
    """Replay one instance's current execution; the problem found, or None."""

    def problem(kind: str, message: str, step: int | None = None) -> ReplayProblem:
        return ReplayProblem(
            instance.instance_id,
            instance.name,
            instance.version,
            instance.status,
            kind,
            message,
            step,
        )

    rows = list(
        HistoryEvent.objects.filter(instance=instance, execution_id=instance.execution_id)
        .order_by("seq")
        .values_list("kind", "payload")
    )
    if not rows:  # not started yet: the code only has to exist
        if registry.has_orchestrator(instance.name, instance.version):
            return None
        return problem(
            "unknown_version", str(UnknownOrchestratorError(instance.name, instance.version))
        )
    orchestration = Orchestration(
        registry,
        InstanceRef(instance.instance_id, instance.execution_id),
        max_output_bytes=conf.MAX_PAYLOAD_BYTES,
    )
    try:
        orchestration.replay(ev.event_from_payload(kind, payload) for kind, payload in rows)
    except NonDeterminismError as exc:
        return problem(
            "nondeterminism",
            f"history recorded {exc.recorded}, but the code now produced {exc.produced}",
            exc.step,
        )
    except UnknownOrchestratorError as exc:
        return problem("unknown_version", str(exc))
    except DurableError as exc:
        return problem("error", str(exc))
    except Exception as exc:  # noqa: BLE001 - one broken instance must not stop the check
        return problem("error", f"{type(exc).__name__}: {exc}")
    if instance.status in TERMINAL:
        return _compare_ending(instance, orchestration, problem)
    return None


def _compare_ending(instance: Instance, orchestration: Orchestration, problem: Any) -> Any:
    replayed = str(orchestration.status)
    if replayed != instance.status:
        return problem(
            "different_result",
            f"history ended {instance.status}, but the code now ends {replayed}",
        )
    if instance.status == "completed" and orchestration.output != instance.output:
        return problem(
            "different_result",
            f"history's output was {_short(instance.output)}, the code now returns "
            f"{_short(orchestration.output)}",
        )
    if instance.status == "failed" and orchestration.failure is not None:
        recorded = instance.failure or {}
        now = orchestration.failure
        if (recorded.get("type"), recorded.get("message")) != (now.type, now.message):
            return problem(
                "different_result",
                f"history failed with {recorded.get('type')}: {recorded.get('message')}, "
                f"the code now fails with {now.summary()}",
            )
    return None


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unknown_activity_problems(
    hub: str, registry: Registry, name: str | None = None
) -> list[ReplayProblem]:
    known = set(registry.activity_names())
    tasks = ActivityTask.objects.filter(task_hub=hub).open()
    if name:
        tasks = tasks.filter(instance__name=name)
    problems = []
    for task in (
        tasks.exclude(name__in=known)
        .select_related("instance")
        .order_by("pk")
        .only(
            "name",
            "task_id",
            "instance__instance_id",
            "instance__name",
            "instance__version",
            "instance__status",
        )[:1000]
    ):
        problems.append(
            ReplayProblem(
                task.instance.instance_id,
                task.instance.name,
                task.instance.version,
                task.instance.status,
                "unknown_activity",
                f"activity {task.name!r} is scheduled but not registered",
                task.task_id,
            )
        )
    return problems


# -- the start-up check ------------------------------------------------------------------------
def missing_code(hub: str | None = None, registry: Registry | None = None) -> list[MissingCode]:
    """Orchestrator versions of active instances and activities of outstanding tasks that
    ``registry`` lacks: two grouped queries, no replay."""
    hub = hub or conf.TASK_HUB
    registry = registry or default_registry
    missing = []
    rows = (
        Instance.objects.filter(task_hub=hub, status__in=ACTIVE)  # inst_status_idx
        .order_by()
        .values("name", "version")
        .annotate(n=Count("pk"), example=Min("instance_id"))
    )
    for row in rows:
        if not registry.has_orchestrator(row["name"], row["version"]):
            missing.append(
                MissingCode("orchestrator", row["name"], row["version"], row["n"], row["example"])
            )
    tasks = (
        ActivityTask.objects.filter(task_hub=hub)
        .open()  # task_stale_idx
        .exclude(name__in=registry.activity_names())
        .order_by()
        .values("name")
        .annotate(n=Count("pk"), example=Min("instance__instance_id"))
    )
    for row in tasks:
        missing.append(MissingCode("activity", row["name"], None, row["n"], row["example"]))
    return sorted(missing, key=lambda m: (m.kind, m.name, m.version or 0))


def verify_deployment(
    hub: str | None = None, registry: Registry | None = None, *, force: bool = False
) -> list[Any]:
    """The worker's start-up check: raise :class:`IncompatibleCode` listing what cannot run.

    Returns the problems it found (only non-empty when ``force``d: they are logged as a
    warning instead). ``DURABLE_SKIP_REPLAY_CHECK`` skips the check entirely;
    ``DURABLE_STARTUP_FULL_REPLAY`` adds a full replay of every active instance.
    """
    if conf.SKIP_REPLAY_CHECK:
        log.warning("start-up replay check skipped (DURABLE_SKIP_REPLAY_CHECK)")
        return []
    hub = hub or conf.TASK_HUB
    problems: list[Any] = list(missing_code(hub, registry))
    if conf.STARTUP_FULL_REPLAY:
        # Unknown versions and activities are listed above already, grouped.
        replayed = check_replay(hub, registry).problems
        problems.extend(
            p for p in replayed if p.kind not in ("unknown_version", "unknown_activity")
        )
    if not problems:
        return []
    error = IncompatibleCode(problems, "this worker's code")
    if not force:
        raise error
    log.warning("starting anyway (--force): %s", error)
    return problems
