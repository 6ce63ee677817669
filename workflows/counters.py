"""Prometheus instruments updated where things happen: counters and histograms only.

Hot path: a few label look-ups and additions, never a query; callers pass plain values,
so this module imports nothing of the project. With ``PROMETHEUS_MULTIPROC_DIR`` set,
prometheus_client writes them to files that ``/metrics`` sums (workflows/metrics.py).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
    *,
    history_length: int,
    started: int,
    results: int,
    finished_as: str | None,
    output_too_large: bool,
    engine_seconds: float,
    replay_seconds: float | None,
) -> None:
    """Record one committed episode (called by ``episodes.episode_locked`` after commit).

    ``started``: activities and sub-orchestrations it started; ``results``: task results
    it applied; ``finished_as``: how the execution ended, None while it runs.
    """
    series = _episode_series.get(orchestrator)
    if series is None:
        series = _episode_series.setdefault(orchestrator, _EpisodeSeries(orchestrator))
    series.episodes.inc()
    series.engine_seconds.observe(engine_seconds)
    if replay_seconds is not None:
        series.replay_seconds.observe(replay_seconds)
    series.history_length.observe(history_length)
    if started:
        series.fan_out.observe(started)
    if results:
        series.fan_in.observe(results)
    if finished_as is not None:
        ORCHESTRATIONS_FINISHED.labels(orchestrator, finished_as).inc()
        if output_too_large:
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
