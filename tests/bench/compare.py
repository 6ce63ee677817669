"""`make bench-compare`: durableapp side by side with DBOS Transact on the same PostgreSQL.

Usage: python -m tests.bench.compare [--reps 3] [--quick] [--json PATH]

The same workloads and payloads on both systems (tests/bench/compare_workflows.py and
tests/bench/compare_dbos.py), interleaved: in each rep DBOS runs, then durableapp with 1
and then 2 `durable worker` processes over RabbitMQ; every figure is the median of the
reps. DBOS runs in its own virtualenv (.bench-venv/dbos, made by the Makefile) and its own
database; default settings on both, fsync on. The in-run single-row INSERT commits/s is
measured in each rep too. Prints a table with ratios and each target met or not, and
writes bench-results/compare.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.run import BOUNDED_WIDTHS

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]
DURABLE_DB, DBOS_DB = "durable_compare", "dbos_compare"
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DBOS_PYTHON = ROOT / ".bench-venv" / "dbos" / "bin" / "python"

SIZES = {"chain": 200, "many": 200, "latency": 50, "children": 500, "parallel": 16}
SIZES_QUICK = {"chain": 100, "many": 50, "latency": 20, "children": 100, "parallel": 16}
# The bounded fan-out of activities runs at "parallel" (with the children) and at these.
OTHER_WIDTHS = tuple(width for width in BOUNDED_WIDTHS if width != SIZES["parallel"])

# (figure key, label, unit); the latency is the one where lower is better
WORKLOADS = [
    ("chain_steps_per_s", "one workflow, {chain} sequential steps", "steps/s"),
    ("many_steps_per_s", "{many} workflows x 5 steps, started at once", "steps/s"),
    ("latency_median_ms", "1-step workflow, start -> result seen (median)", "ms"),
    ("children_per_s", "{children} one-step children, {parallel} at a time", "children/s"),
    ("bounded_activities_per_s", "  the same as bounded activities", "activities/s"),
    *(
        (f"bounded_{width}_per_s", f"  bounded activities, {width} at a time", "activities/s")
        for width in OTHER_WIDTHS
    ),
    ("fan_out_same_size_per_s", "  fan-out/fan-in of {children} activities", "activities/s"),
    ("fan_out_per_s", "fan-out/fan-in of {fan_out} activities", "activities/s"),
]
SYSTEMS = [("dbos", "DBOS 3.4"), ("durable_1", "durableapp, 1 worker"), ("durable_2", "2 workers")]


def reset(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    os.environ.update(
        DATABASE_URL=f"{PG_BASE}/{DURABLE_DB}",
        DURABLE_BROKER_URL=AMQP_URL,
        DURABLE_WORKFLOW_MODULES="tests.bench.compare_workflows",
        DURABLE_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="durableapp.settings",
        DJANGO_DEBUG="0",  # production shape: no per-query debug log
        DJANGO_SECRET_KEY="bench-only-not-secret-" + "x" * 40,
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def dbos_rep(sizes: dict) -> dict[str, float]:
    if not DBOS_PYTHON.exists():
        raise SystemExit(f"{DBOS_PYTHON} is missing: run `make bench-compare` (it installs dbos)")
    config = {"db": f"{PG_BASE.replace('postgres://', 'postgresql://')}/{DBOS_DB}", "sizes": sizes}
    out = subprocess.run(
        [str(DBOS_PYTHON), str(ROOT / "tests" / "bench" / "compare_dbos.py"), json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        print(out.stdout[-3000:], out.stderr[-5000:], sep="\n")
        raise SystemExit("bench-compare: the DBOS run failed")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument("--json", default=str(ROOT / "bench-results" / "compare.json"))
    args = parser.parse_args()
    sizes = {
        **(SIZES_QUICK if args.quick else SIZES),
        "fan_out": 300 if args.quick else 1000,
        "widths": list(OTHER_WIDTHS),
    }
    (ROOT / "bench-results").mkdir(exist_ok=True)
    reset(DURABLE_DB)
    reset(DBOS_DB)
    setup_django()
    from tests.bench import compare_durable

    runs: dict[str, list[dict[str, float]]] = {key: [] for key, _ in SYSTEMS}
    baseline: list[float] = []
    started = time.monotonic()
    for rep in range(1, args.reps + 1):
        baseline.append(compare_durable.baseline_commits_per_s(os.environ["DATABASE_URL"]))
        print(f"== rep {rep}/{args.reps}: INSERT commits/s {baseline[-1]:.0f}", flush=True)
        for key, label in SYSTEMS:
            if key == "dbos":
                figures = dbos_rep(sizes)
            else:
                figures = compare_durable.run_rep(int(key[-1]), sizes)
            runs[key].append(figures)
            print(f"   {label}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()))
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "seconds": round(time.monotonic() - started, 1),
        "sizes": sizes,
        "baseline_commits_per_s": {"median": statistics.median(baseline), "runs": baseline},
        "systems": {
            key: {
                name: {
                    "median": statistics.median(r[name] for r in reps),
                    "runs": [r[name] for r in reps],
                }
                for name in reps[0]
            }
            for key, reps in runs.items()
        },
    }
    report["targets"] = check_targets(report)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print_table(report)


def _median(report: dict, system: str, key: str) -> float | None:
    figure = report["systems"].get(system, {}).get(key)
    return figure["median"] if figure else None


def print_table(report: dict) -> None:
    sizes = report["sizes"]
    print(f"\nbench-compare — {report['date']} — {report['machine']} — {report['seconds']} s")
    print(f"medians of {len(report['baseline_commits_per_s']['runs'])} interleaved reps")
    header = f"{'workload':52} {'DBOS 3.4':>10} {'1 worker':>10} {'x DBOS':>7}"
    print(f"{header} {'2 workers':>10} {'x DBOS':>7}  unit")
    for key, label, unit in WORKLOADS:
        dbos = _median(report, "dbos", key)
        cells = [f"{dbos:>10.4g}" if dbos is not None else f"{'–':>10}"]
        for system in ("durable_1", "durable_2"):
            value = _median(report, system, key)
            ratio = f"{value / dbos:.2f}" if dbos and value is not None else "–"
            cells.append(f"{value:>10.4g} {ratio:>7}" if value is not None else f"{'–':>18}")
        print(f"{label.format(**sizes):52} {' '.join(cells)}  {unit}")
    base = report["baseline_commits_per_s"]["median"]
    print(f"{'single-row INSERT commits/s (same PostgreSQL)':52} {base:>10.4g}")
    print("(x DBOS: durableapp / DBOS; for the latency lower is better)\n\ntargets:")
    for line in report["targets"]:
        print(f"  {line}")


def check_targets(report: dict) -> list[str]:
    """Each target of issue 17 with the medians and whether this run met it."""
    lines = []
    rules = [
        ("chain_steps_per_s", "durable_1", 2.0),
        ("chain_steps_per_s", "durable_2", 2.0),
        ("many_steps_per_s", "durable_1", 2.0),
        ("many_steps_per_s", "durable_2", 2.0),
        ("latency_median_ms", "durable_1", 1.0),
        ("latency_median_ms", "durable_2", 1.0),
        ("children_per_s", "durable_1", 2.0),
        ("children_per_s", "durable_2", 2.0),
    ]
    for key, system, factor in rules:
        dbos, value = _median(report, "dbos", key), _median(report, system, key)
        if dbos is None or value is None:
            continue
        workers = system[-1]
        if key == "latency_median_ms":
            ok, rel = value <= factor * dbos, "<="
        else:
            ok, rel = value >= factor * dbos, ">="
        lines.append(
            f"{'met    ' if ok else 'NOT met'}  {key}, {workers} worker(s): {value:.4g} {rel} "
            f"{factor:g} x DBOS {dbos:.4g} (ratio {value / dbos:.2f})"
        )
    fan_out, base = _median(report, "durable_2", "fan_out_per_s"), report["baseline_commits_per_s"]
    if fan_out is not None:
        ok = fan_out >= 0.5 * base["median"]
        lines.append(
            f"{'met    ' if ok else 'NOT met'}  fan_out_per_s, 2 workers: {fan_out:.4g} >= 0.5 x "
            f"INSERT commits/s {base['median']:.4g} (ratio {fan_out / base['median']:.2f})"
        )
    for system in ("durable_1", "durable_2"):
        unbounded = _median(report, system, "fan_out_same_size_per_s")
        sizes = report["sizes"]
        bounded_at = [("bounded_activities_per_s", sizes["parallel"])]
        bounded_at += [(f"bounded_{width}_per_s", width) for width in sizes["widths"]]
        for key, width in bounded_at:
            bounded = _median(report, system, key)
            if bounded is None or unbounded is None:
                continue
            ok = bounded >= 0.8 * unbounded
            lines.append(
                f"{'met    ' if ok else 'NOT met'}  {key}, {system[-1]} worker(s): {bounded:.4g} "
                f">= 0.8 x the unbounded fan-out of the same size {unbounded:.4g} "
                f"(ratio {bounded / unbounded:.2f}; {sizes['children']} at {width})"
            )
    return lines


if __name__ == "__main__":
    main()
