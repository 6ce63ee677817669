"""The durableapp side of `make bench-compare`: one rep of the workloads with N real
`durable worker` processes (RabbitMQ, default settings), timed as the client sees them.

Imported by tests/bench/compare.py after ``django.setup()``. Times run on
``time.perf_counter`` from just before ``client.start`` until the client has read the
instance (or every instance) finished: the same span as DBOS's
``start_workflow(...).get_result()``.
"""

from __future__ import annotations

import os
import statistics
import time

import psycopg

from tests.support.workers import WorkerProcess
from workflows.client import DurableClient
from workflows.statuses import InstanceStatus

client = DurableClient()
# Real deployment timings (not the tests' fast sweeper), as `make bench` uses.
WORKER_ENV = {
    "DJANGO_DEBUG": "0",
    "DURABLE_SWEEP_INTERVAL_SECONDS": "1.0",
    "DURABLE_REDELIVER_AFTER_SECONDS": "5",
    "DURABLE_WORKFLOW_MODULES": "tests.bench.compare_workflows",
    "DURABLE_LOG_LEVEL": "WARNING",
}


def baseline_commits_per_s(url: str, seconds: float = 1.5) -> float:
    """Single connection, one single-row INSERT per commit: the floor of a durable step."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id serial PRIMARY KEY, v text)")
        conn.commit()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute("INSERT INTO bench_baseline (v) VALUES ('x')")
            conn.commit()
            count += 1
        return count / (time.perf_counter() - started)


def wait_one(instance_id: str, timeout: float = 300) -> None:
    """The client's own wait, with its defaults (woken by completion notifications where
    the database has them), like DBOS's ``handle.get_result()``."""
    state = client.wait_for_completion(instance_id, timeout=timeout)
    if state.status != InstanceStatus.COMPLETED:
        raise SystemExit(f"bench-compare: {instance_id} ended {state.status}: {state.failure}")


def wait_all(ids: list[str]) -> None:
    """Each result in turn, as the DBOS side reads its handles' results in turn."""
    for instance_id in ids:
        wait_one(instance_id)


def timed(name: str, spec: object) -> float:
    """Seconds from start to the result seen by the client."""
    started = time.perf_counter()
    wait_one(client.start(name, spec))
    return time.perf_counter() - started


def chain(steps: int) -> float:
    return steps / timed("cmp_chain", steps)


def many(count: int, steps: int) -> float:
    started = time.perf_counter()
    ids = [client.start("cmp_chain", steps) for _ in range(count)]
    wait_all(ids)
    return count * steps / (time.perf_counter() - started)


def latency(samples: int) -> float:
    return statistics.median(timed("cmp_chain", 1) * 1000 for _ in range(samples))


def run_rep(workers: int, sizes: dict) -> dict[str, float]:
    """One rep of every workload with ``workers`` worker processes (started and stopped)."""
    env = {**WORKER_ENV, "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"]}
    procs = [WorkerProcess(threads=4, env=env).start() for _ in range(workers)]
    try:
        # Warm-up, not counted: the threads open their connections and fill their caches.
        timed("cmp_fan_out", 200)
        chain(50)
        latency(5)
        count = sizes["children"]
        bounded = {"count": count, "parallel": sizes["parallel"]}
        figures = {
            "chain_steps_per_s": chain(sizes["chain"]),
            "many_steps_per_s": many(sizes["many"], 5),
            "latency_median_ms": latency(sizes["latency"]),
            "children_per_s": count / timed("cmp_bounded_children", bounded),
            "bounded_activities_per_s": count / timed("cmp_bounded_activities", bounded),
        }
        # Target 4 as the issue puts it: a bounded fan-out at other widths, against the
        # unbounded fan-out of the same size.
        for width in sizes["widths"]:
            spec = {"count": count, "parallel": width}
            figures[f"bounded_{width}_per_s"] = count / timed("cmp_bounded_activities", spec)
        figures["fan_out_same_size_per_s"] = count / timed("cmp_fan_out", count)
        figures["fan_out_per_s"] = sizes["fan_out"] / timed("cmp_fan_out", sizes["fan_out"])
        return figures
    finally:
        for proc in procs:
            proc.stop()
