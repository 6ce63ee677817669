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
)


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

from tests.bench.run import summary  # noqa: E402
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


def latency(samples: int) -> tuple[float, float]:
    values = []
    for _ in range(samples):
        iid = client.start("bench_chain", 1)
        values.append(elapsed_of([iid]) * 1000)
    values.sort()
    return statistics.median(values), values[int(len(values) * 0.95) - 1]


def replay_cost(steps: int, checkpoints: tuple[int, ...], cache_size: int) -> dict[int, float]:
    """Episode time (ms) at given steps of a chain driven in-process, cache on or off."""
    from workflows.runtime import cache as cache_module
    from workflows.runtime.activities import execute_task
    from workflows.store import run_episode

    cache_module._cache = cache_module.StickyCache(cache_size)
    iid = client.start("bench_chain", steps)
    instance = Instance.objects.get(instance_id=iid)
    timings: dict[int, float] = {}
    step = 0
    while True:
        started = time.perf_counter()
        run_episode(instance.pk)
        took = (time.perf_counter() - started) * 1000
        if step in checkpoints:
            timings[step] = took
        task = (
            ActivityTask.objects.filter(instance=instance, status="scheduled")
            .order_by("task_id")
            .last()
        )
        if task is None:
            break
        execute_task(task.pk)
        step += 1
    cache_module._cache = None
    return timings


def main() -> None:
    only = set(CONFIG.get("only") or [])
    want = lambda name: not only or name in only  # noqa: E731
    figures: dict[str, dict] = {}
    figures["baseline_commits_per_s"] = summary(
        "baseline: INSERT commits/s (1 connection)", [baseline_commits_per_s() for _ in range(RUNS)]
    )
    chain_steps, many_count, width, lat_n = (100, 50, 300, 30) if QUICK else (200, 200, 1000, 100)
    if want("replay"):
        checkpoints = (10, 100, 1000)
        for size, label in ((1000, "on"), (0, "off")):
            runs = [replay_cost(1000, checkpoints, size) for _ in range(1 if QUICK else RUNS)]
            for k in checkpoints:
                figures[f"episode_ms_step_{k}_cache_{label}"] = summary(
                    f"episode ms at step {k}, sticky cache {label}",
                    [r[k] for r in runs],
                    per_s=False,
                )
    workers = []
    if CONFIG["workers"]:
        workers = [
            WorkerProcess(
                threads=4,
                env={
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
        if want("latency"):
            runs = [latency(lat_n) for _ in range(RUNS)]
            figures["latency_median_ms"] = summary(
                f"start-to-finish, 1 activity: median ms", [r[0] for r in runs], per_s=False
            )
            figures["latency_p95_ms"] = summary(
                f"start-to-finish, 1 activity: p95 ms", [r[1] for r in runs], per_s=False
            )
    finally:
        for w in workers:
            w.stop()
        if not CONFIG["workers"]:
            embedded.stop()
    print("RESULT " + json.dumps({"name": CONFIG["name"], "figures": figures}))


main()
