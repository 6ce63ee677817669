"""`make bench-scale`: the operator pages timed server-side with millions of instances.

Usage: python -m tests.bench.scale [--rows 10000000] [--keep] [--requests 7] [--json PATH]

Seeds a PostgreSQL database (tests/bench/scale_seed.py), migrates it, then times each page
in this process through Django's test Client as a signed-in operator (superuser): the
median, min and max of ``--requests`` requests after one warm-up, each the time the view
took to answer (no network). Targets: every console page, the dashboard and /metrics at
most 150 ms. ``--keep`` keeps the seeded database for the next run (which then reuses it
when it holds the same number of rows, applying any new migration first); without it the
database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from tests.bench.scale_seed import seed

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
TARGET_MS = 150.0


def prepare(name: str, rows: int, keep: bool) -> tuple[str, float | None]:
    """The database URL, seeded with ``rows`` instances (None seconds: reused as it was)."""
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and keep:
            with psycopg.connect(url) as conn:
                marker = conn.execute("SELECT to_regclass('bench_scale_seed')").fetchone()[0]
                seeded = marker and conn.execute("SELECT rows FROM bench_scale_seed").fetchone()
            if seeded and seeded[0] == rows:
                setup_django(url)
                return url, None
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    setup_django(url)
    print(f"== seeding {rows:,} instances into {name}", flush=True)
    seconds = seed(url, rows, say=lambda line: print(line, flush=True))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_scale_seed (rows bigint)")
        conn.execute("INSERT INTO bench_scale_seed VALUES (%s)", [rows])
    return url, seconds


def setup_django(url: str) -> None:
    os.environ.update(
        DATABASE_URL=url,
        DURABLE_BROKER_URL="embedded",  # pages only: nothing is started or woken here
        DURABLE_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="durableapp.settings",
        DJANGO_DEBUG="0",  # production shape: no per-query debug log
        DJANGO_SECRET_KEY="bench-only-not-secret-" + "x" * 40,
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    with (
        connection.cursor() as cursor
    ):  # statistics of new indexes' expressions, as autovacuum would
        cursor.execute("ANALYZE workflows_instance")
    print(f"   migrated and analysed ({time.monotonic() - started:.0f} s)", flush=True)


def pages(sample: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(label, path, under the 150 ms target) of every page timed."""
    key, id_part, name = sample["key_fragment"], sample["id_fragment"], sample["name"]
    return [
        ("console (overview + first page)", "/console/", True),
        ("console overview part", "/console/overview/", True),
        ("console listing", "/console/instances/", True),
        (
            "console listing, a page deep (cursor)",
            f"/console/instances/?cursor={sample['cursor']}",
            True,
        ),
        ("console search by key fragment", f"/console/instances/?q={key}", True),
        ("console search by id fragment", f"/console/instances/?q={id_part}", True),
        ("console filter status=failed", "/console/instances/?status=failed", True),
        (
            "console filter status=running + name",
            f"/console/instances/?status=running&name={name}",
            True,
        ),
        ("console filter needs attention", "/console/instances/?attention=on", True),
        ("dashboard", "/console/dashboard/", True),
        ("dashboard, 14 days", "/console/dashboard/?range=14d", True),
        ("/metrics", "/metrics", True),
        ("instance page", f"/instances/{sample['instance_id']}/", False),
        ("API list", "/api/v1/instances/", False),
        ("API list, search by key fragment", f"/api/v1/instances/?search={key}", False),
    ]


def samples() -> dict[str, str]:
    from workflows.models import Instance

    running = Instance.objects.filter(status="running", history_length=40).order_by("-pk").first()
    newest = Instance.objects.order_by("-pk").only("pk").first()
    return {
        "instance_id": running.instance_id,
        "key_fragment": "-12345",  # ORD-/CUST- keys containing it: a few hundred per 10 M
        "id_fragment": running.instance_id[8:16],
        "name": "payment_capture",
        "cursor": str(newest.pk - 5000),
    }


def time_pages(requests: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-operator", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    results = []
    for label, path, targeted in pages(samples()):
        times, sql_times, slowest = [], [], (0.0, "")
        for n in range(requests + 1):
            queries = QueryTimes()
            with connection.execute_wrapper(queries):
                started = time.perf_counter()
                response = client.get(path, secure=True)
                took = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
            if n:  # the first is a warm-up
                times.append(took)
                sql_times.append(queries.total)
                slowest = max(slowest, queries.slowest)
        median = statistics.median(times)
        results.append(
            {
                "page": label,
                "path": path,
                "median_ms": median,
                "min_ms": min(times),
                "max_ms": max(times),
                "sql_median_ms": statistics.median(sql_times),
                "queries": queries.count,
                "slowest_query_ms": slowest[0],
                "slowest_query": slowest[1][:300],
                "target_ms": TARGET_MS if targeted else None,
            }
        )
        verdict = ("met" if median <= TARGET_MS else "NOT met") if targeted else ""
        print(
            f"{label:40} {median:>9.1f} {min(times):>9.1f} {max(times):>9.1f} "
            f"{statistics.median(sql_times):>9.1f} {queries.count:>4}  {verdict}",
            flush=True,
        )
    return results


class QueryTimes:
    """An execute_wrapper: the time spent in SQL during one request, and its slowest query."""

    def __init__(self) -> None:
        self.total, self.count, self.slowest = 0.0, 0, (0.0, "")

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001, ANN204
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = (time.perf_counter() - started) * 1000
            self.total += took
            self.count += 1
            self.slowest = max(self.slowest, (took, sql))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    parser.add_argument("--db", default="durable_scale")
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument("--json", default=str(ROOT / "bench-results" / "scale.json"))
    args = parser.parse_args()
    (ROOT / "bench-results").mkdir(exist_ok=True)
    started = time.monotonic()
    url, seeded = prepare(args.db, args.rows, args.keep)
    print(f"\nbench-scale — {args.rows:,} instances — median of {args.requests} requests, ms")
    print(
        f"{'page':40} {'median':>9} {'min':>9} {'max':>9} {'SQL':>9} {'qs':>4}  <= {TARGET_MS:g} ms"
    )
    try:
        results = time_pages(args.requests)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "rows": args.rows,
        "seed_seconds": seeded,
        "seconds": round(time.monotonic() - started, 1),
        "pages": results,
    }
    Path(args.json).write_text(json.dumps(report, indent=2))
    missed = [r["page"] for r in results if r["target_ms"] and r["median_ms"] > r["target_ms"]]
    print(
        f"\ntargets: {len(missed)} page(s) over {TARGET_MS:g} ms"
        + (f": {', '.join(missed)}" if missed else "")
    )


if __name__ == "__main__":
    main()
