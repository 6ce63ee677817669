"""Async activities on PostgreSQL + RabbitMQ, against a baseline measured in the same run.

Usage: python -m tests.bench.async_activities [--count 1000] [--sleep 0.1] [--threads 4]

One `durable worker` process (``--threads`` activity threads) runs a fan-out of ``count``
``async def`` activities that each ``await asyncio.sleep(sleep)`` (tests/support/
async_workflows.py), then, as the baseline, the same fan-out of plain activities that
``time.sleep(sleep)`` on the same worker. Prints the time from start to result and the
activities per second of each; writes bench-results/async_activities.json. Nothing is
asserted: the figures are for a reader to compare (issue 22 asks for the async fan-out of
1,000 x 100 ms "well under 10 s on one worker").
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
DB_URL = os.environ.get(
    "BENCH_ASYNC_PG_URL", "postgres://postgres@127.0.0.1:5432/durable_bench_async"
)
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
HUB = f"bench_async_{os.getpid()}"
ENV = {
    "DATABASE_URL": DB_URL,
    "DURABLE_BROKER_URL": AMQP_URL,
    "DURABLE_TASK_HUB": HUB,
    "DURABLE_WORKFLOW_MODULES": "tests.support.workflows,tests.support.async_workflows",
    "DURABLE_LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "durableapp.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "bench-only-not-secret-" + "x" * 40,
    "DURABLE_SWEEP_INTERVAL_SECONDS": "1.0",
    "DURABLE_REDELIVER_AFTER_SECONDS": "5",
}


def reset_database() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def fan_out(client, activity: str, count: int, sleep: float) -> dict:
    """Start one fan-out of ``count`` activities; seconds until its result is seen."""
    started = time.perf_counter()
    iid = client.start("t_async_fan_out", {"activity": activity, "count": count, "sleep": sleep})
    state = client.wait_for_completion(iid, timeout=600)
    seconds = time.perf_counter() - started
    if state.status != "completed" or state.output != sum(range(count)):
        raise SystemExit(f"{activity} fan-out ended {state.status}: {state.failure}")
    return {"seconds": round(seconds, 2), "activities_per_s": round(count / seconds, 1)}


def start_worker(threads: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115 - the worker's for its lifetime
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "durable", "worker", "--threads", str(threads)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while b"worker running" not in log_path.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    return worker


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    os.environ.update(ENV)
    reset_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from workflows.client import DurableClient
    from workflows.conf import conf

    (ROOT / "bench-results").mkdir(exist_ok=True)
    worker = start_worker(args.threads, ROOT / "bench-results" / "async_activities_worker.log")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        client = DurableClient()
        fan_out(client, "t_async_nap", 20, 0.01)  # warm-up: connections, code paths
        print(
            f"Async activities (PostgreSQL + RabbitMQ, one worker process, {args.threads} "
            f"activity threads, DURABLE_ASYNC_ACTIVITY_CONCURRENCY="
            f"{conf.ASYNC_ACTIVITY_CONCURRENCY}): {args.count} x {args.sleep * 1000:g} ms",
            flush=True,
        )
        figures = {}
        for label, activity in (
            ("async (await asyncio.sleep)", "t_async_nap"),
            ("baseline: sync (time.sleep)", "t_sync_nap"),
        ):
            figures[activity] = {
                "label": label,
                **fan_out(client, activity, args.count, args.sleep),
            }
            fig = figures[activity]
            rate = fig["activities_per_s"]
            print(f"  {label:32} {fig['seconds']:8.2f} s  {rate:8.1f} activities/s", flush=True)
        ratio = figures["t_sync_nap"]["seconds"] / figures["t_async_nap"]["seconds"]
        print(f"  async is {ratio:.1f}x the baseline's rate", flush=True)
        report = {"count": args.count, "sleep": args.sleep, "threads": args.threads, **figures}
        (ROOT / "bench-results" / "async_activities.json").write_text(json.dumps(report, indent=2))
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()


if __name__ == "__main__":
    main()
