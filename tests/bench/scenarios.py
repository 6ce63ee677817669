"""One backend's benchmark run (a subprocess of tests.bench.run, configured by argv JSON)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

CONFIG = json.loads(sys.argv[1])
ROOT = Path(__file__).resolve().parents[2]
os.environ.update(
    DATABASE_URL=CONFIG["db"],
    DURABLE_BROKER_URL=CONFIG["broker"],
    DURABLE_WORKFLOW_MODULES="tests.bench.workflows",
    DURABLE_LOG_LEVEL="WARNING",
    DJANGO_SETTINGS_MODULE="durableapp.settings",
    # Production shape: no per-query debug log (DEBUG), default sweeper timings.
    DJANGO_DEBUG="0",
    DJANGO_SECRET_KEY="bench-only-not-secret-" + "x" * 40,
)
# Timings of real deployments, not the tests' fast sweeper (tests/support/workers.py).
WORKER_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
    "DURABLE_SWEEP_INTERVAL_SECONDS": "1.0",
    "DURABLE_REDELIVER_AFTER_SECONDS": "5",
}


def reset_database() -> None:
    if CONFIG["db"].startswith("sqlite"):
        path = Path(CONFIG["db"].removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    from tests.bench.run import PG_ADMIN_URL

    name = CONFIG["db"].rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


reset_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

call_command("migrate", verbosity=0)

from tests.bench.run import BOUNDED_WIDTHS, summary  # noqa: E402
from tests.support.workers import WorkerProcess  # noqa: E402
from workflows.client import DurableClient  # noqa: E402
from workflows.models import ActivityTask, Instance  # noqa: E402

RUNS = 3
QUICK = CONFIG.get("quick", False)
client = DurableClient()


def baseline_commits_per_s(seconds: float = 1.5) -> float:
    """Single connection, one single-row INSERT per commit: the floor of a durable step."""
    if connection.vendor == "sqlite":
        import sqlite3

        conn = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY, v TEXT)")
        execute = conn.execute
        begin, commit = (lambda: execute("BEGIN IMMEDIATE")), (lambda: execute("COMMIT"))
    else:
        import psycopg

        conn = psycopg.connect(CONFIG["db"])
        conn.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id serial PRIMARY KEY, v text)")
        conn.commit()
        execute = conn.execute
        begin, commit = (lambda: None), conn.commit
    count, deadline = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        begin()
        execute("INSERT INTO bench_baseline (v) VALUES ('x')")
        commit()
        count += 1
    rate = count / (time.perf_counter() - started)
    conn.close()
    return rate


def elapsed_of(ids: list[str], timeout: float = 300) -> float:
    """Seconds from the first start to the last completion, from database timestamps."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(
            Instance.objects.filter(instance_id__in=ids).values(
                "status", "created_at", "completed_at", "needs_attention", "attention_reason"
            )
        )
        stuck = [r for r in rows if r["needs_attention"]]
        if stuck:
            raise SystemExit(f"benchmark instance needs attention: {stuck[0]['attention_reason']}")
        if all(r["status"] == "completed" for r in rows) and len(rows) == len(ids):
            return (
                max(r["completed_at"] for r in rows) - min(r["created_at"] for r in rows)
            ).total_seconds()
        bad = [r for r in rows if r["status"] in ("failed", "terminated")]
        if bad:
            raise SystemExit(f"benchmark instance ended {bad[0]['status']}")
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark did not finish in {timeout} s")
        time.sleep(0.02)


def sequential_chain(steps: int) -> float:
    iid = client.start("bench_chain", steps)
    return steps / elapsed_of([iid])


def many_instances(count: int, steps: int) -> tuple[float, float]:
    ids = [client.start("bench_chain", steps) for _ in range(count)]
    seconds = elapsed_of(ids)
    return count / seconds, count * steps / seconds


def fan_out(width: int) -> float:
    iid = client.start("bench_fan_out", width)
    return width / elapsed_of([iid])


def bounded_fan_out(count: int, parallel: int) -> float:
    iid = client.start("bench_bounded", {"count": count, "parallel": parallel})
    return count / elapsed_of([iid])


def children(count: int, parallel: int) -> float:
    """Sub-orchestrations/s: ``count`` one-step children, ``parallel`` at a time."""
    iid = client.start("bench_children", {"count": count, "parallel": parallel})
    return count / elapsed_of([iid])


def observed_latency(samples: int) -> tuple[float, float]:
    """Client-observed ms from start to the result seen by wait_for_completion (median, p95)."""
    values = []
    for _ in range(samples):
        started = time.perf_counter()
        iid = client.start("bench_chain", 1)
        state = client.wait_for_completion(iid, timeout=60)
        values.append((time.perf_counter() - started) * 1000)
        if state.status != "completed":
            raise SystemExit(f"latency instance ended {state.status}")
    values.sort()
    return statistics.median(values), values[int(len(values) * 0.95) - 1]


def latency(samples: int) -> tuple[float, float]:
    values = []
    for _ in range(samples):
        iid = client.start("bench_chain", 1)
        values.append(elapsed_of([iid]) * 1000)
    values.sort()
    return statistics.median(values), values[int(len(values) * 0.95) - 1]


def recovery_after_kill(workers: list, count: int = 16) -> float:
    """Seconds from a SIGKILL of one of two workers, in the middle of running activities,
    until every instance has finished (default lease and sweeper timings)."""
    ids = [client.start("bench_slow_chain", {"steps": 4, "sleep": 0.5}) for _ in range(count)]
    victim = workers[0]
    tag = f":{victim.proc.pid}:"
    deadline = time.monotonic() + 60
    while not ActivityTask.objects.filter(status="running", worker__contains=tag).exists():
        if time.monotonic() > deadline:
            raise SystemExit("recovery: the worker to kill never ran an activity")
        time.sleep(0.01)
    victim.kill()
    killed = time.monotonic()
    elapsed_of(ids, timeout=300)
    return time.monotonic() - killed


def _rss_mib(pid: int) -> float:
    """Resident memory of another process (a worker), MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _bulk(action: str, spec: dict, worker_pid: int) -> tuple[dict, list[float], list[float]]:
    """Run one bulk operation to its end while starting 1-activity instances one after
    another: (the operation's figures, their start-to-finish ms, the worker's RSS MiB)."""
    op = client.start_bulk(action, filter=spec, reason=f"bench {action}", by="bench")
    started = time.monotonic()
    latencies, rss = [], [_rss_mib(worker_pid)]
    while True:
        state = client.bulk_operation(op.id)
        if state.is_finished:
            break
        iid = client.start("bench_chain", 1)
        latencies.append(elapsed_of([iid]) * 1000)
        rss.append(_rss_mib(worker_pid))
        if time.monotonic() - started > 1800:
            raise SystemExit(f"bulk {action} did not finish in 30 minutes")
    seconds = (state.finished_at - state.created_at).total_seconds()
    if (state.done, state.failed) != (state.matched, 0):
        raise SystemExit(f"bulk {action}: {state}")
    figures = {
        "seconds": seconds,
        "per_s": state.matched / seconds,
        "chunks": state.chunks,
        "longest_chunk_ms": state.longest_chunk_ms,
    }
    return figures, latencies, rss


def bulk_at_scale(count: int, worker_pid: int) -> dict[str, dict]:
    """Terminate, then purge, ``count`` waiting instances with one operation each, while
    1-activity instances keep running through the same worker."""
    ids = [client.start("bench_wait", None, instance_id=f"bulk-{n:06d}") for n in range(count)]
    waiting = Instance.objects.filter(instance_id__startswith="bulk-", status="running")
    deadline = time.monotonic() + 600
    while waiting.count() < len(ids):  # each waits for an event: the worker started them
        if time.monotonic() > deadline:
            raise SystemExit("bulk: the instances to terminate never all started")
        time.sleep(0.2)
    figures: dict[str, dict] = {}
    terminate, lat_t, rss_t = _bulk("terminate", {"search": "bulk-"}, worker_pid)
    purge, lat_p, rss_p = _bulk("purge", {"search": "bulk-", "status": ["terminated"]}, worker_pid)
    latencies = sorted(lat_t + lat_p)
    for label, run in (("terminate", terminate), ("purge", purge)):
        figures[f"bulk_{label}_seconds"] = summary(
            f"bulk {label} of {count}: seconds", [run["seconds"]], per_s=False
        )
        figures[f"bulk_{label}_per_s"] = summary(
            f"bulk {label} of {count}: instances/s", [run["per_s"]]
        )
        figures[f"bulk_{label}_longest_chunk_ms"] = summary(
            f"bulk {label}: longest chunk transaction ms ({run['chunks']} chunks of 100)",
            [run["longest_chunk_ms"]],
            per_s=False,
        )
    figures["bulk_latency_median_ms"] = summary(
        "start-to-finish, 1 activity, during the bulk runs: median ms",
        [statistics.median(latencies)],
        per_s=False,
    )
    figures["bulk_latency_p95_ms"] = summary(
        "start-to-finish, 1 activity, during the bulk runs: p95 ms",
        [latencies[max(0, int(len(latencies) * 0.95) - 1)]],
        per_s=False,
    )
    rss = rss_t + rss_p
    figures["bulk_rss_mib_start"] = summary("worker RSS MiB before the bulk runs", [rss[0]], False)
    figures["bulk_rss_mib_max"] = summary("worker RSS MiB, most during them", [max(rss)], False)
    return figures


def replay_cost(steps: int, checkpoints: tuple[int, ...]) -> dict[str, list[float]]:
    """Episode time (ms) around given steps of a chain driven in-process.

    Around each checkpoint k, three episodes run with the sticky cache (a hit) and three
    right after clearing it (a miss: full replay of the k-step history). Results go
    through the inbox here (not the merged fast path) so each episode is timed alone.
    """
    from tests.support.episodes import run_episode
    from tests.support.outcomes import record_task_outcome
    from workflows.engine import default_registry
    from workflows.engine.activity import ActivityContext, run_activity
    from workflows.runtime.activities import claim_task
    from workflows.runtime.cache import sticky_cache

    cache = sticky_cache()
    iid = client.start("bench_chain", steps + 6)
    instance = Instance.objects.get(instance_id=iid)
    timings: dict[str, list[float]] = {}
    windows = {k + offset: (k, offset % 2) for k in checkpoints for offset in range(6)}
    step = 0
    while True:
        window = windows.get(step)
        if window and window[1]:
            cache.clear()
        started = time.perf_counter()
        run_episode(instance.pk)
        took = (time.perf_counter() - started) * 1000
        if window:
            label = "off" if window[1] else "on"
            timings.setdefault(f"{window[0]}_{label}", []).append(took)
        task = ActivityTask.objects.filter(instance=instance, status="scheduled").first()
        if task is None:
            break
        task = claim_task(task.pk)
        ctx = ActivityContext(iid, task.name, task.attempt, task.idempotency_key, task.task_id)
        outcome = run_activity(default_registry, ctx, task.input)
        record_task_outcome(task.pk, outcome.ok, outcome.result, outcome.failure)
        step += 1
    return timings


def memory_flat(total: int, checkpoints: tuple[int, ...]) -> dict[int, float]:
    """Resident memory (MiB) of a worker holding ``total`` instances that wait on events."""
    import gc

    from tests.support.episodes import run_episode

    rss: dict[int, float] = {}
    for n in range(1, total + 1):
        iid = client.start("bench_wait", None)
        run_episode(Instance.objects.get(instance_id=iid).pk)
        if n in checkpoints:
            gc.collect()
            rss[n] = _current_rss_mib()
    return rss


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    only = set(CONFIG.get("only") or [])
    want = lambda name: not only or name in only  # noqa: E731
    figures: dict[str, dict] = {}
    figures["baseline_commits_per_s"] = summary(
        "baseline: INSERT commits/s (1 connection)", [baseline_commits_per_s() for _ in range(RUNS)]
    )
    chain_steps, many_count, width, lat_n = (100, 50, 300, 30) if QUICK else (200, 200, 1000, 100)
    children_count = 200 if QUICK else 500
    if want("replay"):
        checkpoints = (10, 100, 1000)
        timings = replay_cost(1000, checkpoints)
        for k in checkpoints:
            for label in ("on", "off"):
                figures[f"episode_ms_step_{k}_cache_{label}"] = summary(
                    f"episode ms at step {k}, sticky cache {'hit' if label == 'on' else 'miss'}",
                    timings[f"{k}_{label}"],
                    per_s=False,
                )
    if want("memory") and not CONFIG["workers"]:
        from workflows.runtime.cache import sticky_cache

        total = 2000 if QUICK else 10_000
        points = (total // 10, total // 2, total)
        rss = memory_flat(total, points)
        for n in points:
            figures[f"rss_mib_{n}_waiting"] = summary(
                f"worker RSS MiB with {n} waiting instances (cache {sticky_cache().size})",
                [rss[n]],
                per_s=False,
            )
    workers = []
    if CONFIG["workers"]:
        workers = [
            WorkerProcess(
                threads=4,
                env={
                    **WORKER_ENV,
                    "DATABASE_URL": CONFIG["db"],
                    "DURABLE_WORKFLOW_MODULES": "tests.bench.workflows",
                    "DURABLE_LOG_LEVEL": "WARNING",
                },
            ).start()
            for _ in range(CONFIG["workers"])
        ]
    else:
        from workflows.runtime.worker import Worker

        embedded = Worker(threads=4)
        embedded.start()
    try:
        # Warm-up, not counted: a fresh worker's threads open their database connections
        # and fill their caches (the first few hundred steps ran up to 25% slower).
        fan_out(300)
        sequential_chain(100)
        if want("chain"):
            figures["chain_steps_per_s"] = summary(
                f"sequential chain of {chain_steps}: steps/s",
                [sequential_chain(chain_steps) for _ in range(RUNS)],
            )
        if want("many"):
            runs = [many_instances(many_count, 5) for _ in range(RUNS)]
            figures["many_instances_per_s"] = summary(
                f"{many_count} x 5-step chains: instances/s", [r[0] for r in runs]
            )
            figures["many_steps_per_s"] = summary(
                f"{many_count} x 5-step chains: steps/s", [r[1] for r in runs]
            )
        if want("fanout"):
            figures["fan_out_per_s"] = summary(
                f"fan-out/fan-in of {width}: activities/s", [fan_out(width) for _ in range(RUNS)]
            )
        if want("bounded"):
            for parallel in BOUNDED_WIDTHS:
                figures[f"bounded_{parallel}_per_s"] = summary(
                    f"bounded fan-out of {width} ({parallel} at a time): activities/s",
                    [bounded_fan_out(width, parallel) for _ in range(RUNS)],
                )
        if want("children"):
            figures["children_per_s"] = summary(
                f"{children_count} one-step sub-orchestrations, 16 at a time: children/s",
                [children(children_count, 16) for _ in range(RUNS)],
            )
        if want("observed"):
            runs = [observed_latency(lat_n) for _ in range(RUNS)]
            figures["observed_latency_median_ms"] = summary(
                "start -> result seen (wait_for_completion), 1 activity: median ms",
                [r[0] for r in runs],
                per_s=False,
            )
            figures["observed_latency_p95_ms"] = summary(
                "start -> result seen (wait_for_completion), 1 activity: p95 ms",
                [r[1] for r in runs],
                per_s=False,
            )
        if want("latency"):
            runs = [latency(lat_n) for _ in range(RUNS)]
            figures["latency_median_ms"] = summary(
                "start-to-finish, 1 activity: median ms", [r[0] for r in runs], per_s=False
            )
            figures["latency_p95_ms"] = summary(
                "start-to-finish, 1 activity: p95 ms", [r[1] for r in runs], per_s=False
            )
        if want("bulk") and CONFIG["workers"] == 1:
            # 10,000 instances terminated then purged, each by one operation, while
            # 1-activity instances keep going through the same (only) worker.
            figures.update(bulk_at_scale(2000 if QUICK else 10_000, workers[0].proc.pid))
        if want("recovery") and CONFIG["workers"] == 2:
            # Last: one worker is gone afterwards. One run (it waits out a lease).
            figures["recovery_seconds"] = summary(
                "all instances finished, s after SIGKILL of 1 of 2 workers",
                [recovery_after_kill(workers)],
                per_s=False,
            )
    finally:
        for w in workers:
            w.stop()
        if not CONFIG["workers"]:
            embedded.stop()
    result = {"name": CONFIG["name"], "workers": CONFIG["workers"], "figures": figures}
    print("RESULT " + json.dumps(result))


main()
