"""Entity figures on PostgreSQL + RabbitMQ, each against a baseline measured in the same
run (`make bench` runs it after the main benchmark; alone: `python -m tests.entities.bench`).

1. 1,000 operations to one entity, applied by a worker process: operations per second
   and commits per operation, against the same operations applied one per commit.
2. 10,000 entities with state, each signalled once: the worker's resident memory after
   the first 1,000 (the baseline) and after all 10,000.
3. ``call_entity`` round trip from an orchestrator (median per call over several
   instances), against ``call_activity`` of an echo activity in the same run.

Nothing is asserted: the figures are printed (and written to
bench-results/entities.json) for a reader to compare.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
DB_URL = os.environ.get(
    "BENCH_ENTITIES_PG_URL", "postgres://postgres@127.0.0.1:5432/durable_bench_entities"
)
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
HUB = f"bench_entities_{os.getpid()}"
ENV = {
    "DATABASE_URL": DB_URL,
    "DURABLE_BROKER_URL": AMQP_URL,
    "DURABLE_TASK_HUB": HUB,
    "DURABLE_WORKFLOW_MODULES": "tests.entities.workflows",
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


os.environ.update(ENV)
reset_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

call_command("migrate", verbosity=0)

import tests.entities.workflows  # noqa: E402, F401 - registers t_counter, t_calls
from workflows.client import DurableClient  # noqa: E402
from workflows.engine import EntityId  # noqa: E402
from workflows.entities import batches  # noqa: E402
from workflows.entities.models import Entity, EntityOperation  # noqa: E402
from workflows.entities.sending import Queued, enqueue  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def queue(key: str, count: int) -> None:
    with transaction.atomic():
        items = [Queued(EntityId("t_counter", key), "add", 1) for _ in range(count)]
        enqueue(HUB, items, timezone.now())


def wait_applied(done, timeout: float = 600) -> float:
    start = time.perf_counter()
    while not done():
        if time.perf_counter() - start > timeout:
            raise SystemExit("timed out waiting for the worker")
        time.sleep(0.01)
    return time.perf_counter() - start


def one_per_commit(count: int) -> dict:
    """Baseline: the same operations applied by the same code, one per transaction."""
    from django.db import connection

    key = "baseline"
    queue(key, count)
    pk = Entity.objects.get(name="t_counter", key=key).pk
    size = batches.BATCH_SIZE
    batches.BATCH_SIZE = 1
    try:
        start = time.perf_counter()
        while batches.run_entity(pk, HUB).applied:
            pass
        seconds = time.perf_counter() - start
    finally:
        batches.BATCH_SIZE = size
    row = Entity.objects.get(pk=pk)
    connection.close()
    return {"ops_per_s": count / seconds, "commits_per_op": row.version / count}


def batched_by_worker(count: int) -> dict:
    key = "one"
    queue(key, count)  # one wake-up: the worker takes the queue in batches
    row = Entity.objects.get(name="t_counter", key=key)
    seconds = wait_applied(lambda: not EntityOperation.objects.filter(entity=row).exists())
    row.refresh_from_db()
    assert row.state == count, row.state
    return {"ops_per_s": count / seconds, "commits_per_op": row.version / count}


def signals_end_to_end(count: int) -> dict:
    """1,000 separate signal_entity calls (one transaction each) while the worker applies."""
    client = DurableClient(hub=HUB)
    start = time.perf_counter()
    for _ in range(count):
        client.signal_entity(("t_counter", "signals"), "add", 1)
    row = Entity.objects.get(name="t_counter", key="signals")
    wait_applied(lambda: Entity.objects.get(pk=row.pk).state == count)
    seconds = time.perf_counter() - start
    row.refresh_from_db()
    return {"ops_per_s": count / seconds, "commits_per_op": row.version / count}


def many_entities(worker_pid: int, total: int = 10_000, chunk: int = 1_000) -> dict:
    figures = {"rss_mb_start": rss_mb(worker_pid)}
    for done in range(0, total, chunk):
        with transaction.atomic():
            items = [
                Queued(EntityId("t_counter", f"e{n:05d}"), "add", n)
                for n in range(done, done + chunk)
            ]
            enqueue(HUB, items, timezone.now())
        wait_applied(
            lambda: (
                not EntityOperation.objects.filter(
                    entity__name="t_counter", entity__key__startswith="e"
                ).exists()
            )
        )
        figures[f"rss_mb_after_{done + chunk}"] = rss_mb(worker_pid)
    figures["entities"] = Entity.objects.filter(key__startswith="e").exclude(state=None).count()
    return figures


def round_trips(kind: str, instances: int = 5, calls: int = 20) -> float:
    client = DurableClient(hub=HUB)
    per_call = []
    for i in range(instances):
        start = time.perf_counter()
        iid = client.start("t_calls", {"kind": kind, "count": calls, "key": f"rt{i}"})
        state = client.wait_for_completion(iid, timeout=300)
        assert state.status == "completed", state.failure
        per_call.append((time.perf_counter() - start) / calls * 1000)
    return statistics.median(per_call)


def main() -> None:
    # Stopped early (SIGTERM): still stop the worker in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    print("Entities (PostgreSQL + RabbitMQ, one worker process, 4 threads)", flush=True)
    # Before the worker starts: nobody else applies the baseline's operations.
    baseline = one_per_commit(1000)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "durable", "worker", "--threads", "4"],
        cwd=ROOT,
        env={**os.environ, **ENV, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(4)  # the worker's start-up check and queues
        report = {"one_entity_1000_ops_one_per_commit (baseline)": baseline}
        show(report)
        steps = {
            "one_entity_1000_ops_batched_by_worker": lambda: batched_by_worker(1000),
            "one_entity_1000_signal_entity_calls_end_to_end": lambda: signals_end_to_end(1000),
            "call_activity_round_trip_ms_median (baseline)": lambda: round_trips("activity"),
            "call_entity_round_trip_ms_median": lambda: round_trips("entity"),
            "10000_entities_worker_memory": lambda: many_entities(worker.pid),
        }
        for name, measure in steps.items():
            report[name] = measure()
            show({name: report[name]})
    finally:
        worker.terminate()
        worker.wait(30)
    out = ROOT / "bench-results" / "entities.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


def show(figures: dict) -> None:
    for name, value in figures.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {v:.3g}" for k, v in value.items())
        else:
            shown = f"{value:.1f}"
        print(f"  {name}: {shown}", flush=True)


if __name__ == "__main__":
    main()
