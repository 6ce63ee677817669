"""``make test``: the test suites side by side, then one summary.

    python scripts/run_tests.py [engine] [sqlite] [postgres] [redis] [-- PYTEST_ARGS]

* engine: tests/engine alone (no database, no broker);
* sqlite: the one-machine default, SQLite (WAL) and the embedded in-process broker;
* postgres: production shape, PostgreSQL and RabbitMQ;
* redis: PostgreSQL and Redis, the tests that run workers (the broker only changes
  transport).

The services come first (scripts/services.py: started where installed and down; an
embedded PostgreSQL where none is installed). The suites run at once, each in its own
pytest process with pytest-xdist workers; each process has its own task hub and test
database (tests/support/settings.py), so they share no state, and neither do two
``make test`` at once. Each suite's output goes to artifacts/test-logs/<suite>.log and is
printed when it ends. The summary gives each suite's outcome and time, the slowest tests
of the whole run, and a suite that could not run with the reason and the command that
installs what it lacks. Exit status: 1 if a suite failed; a suite not run fails the run
only with DURABLEAPP_TEST_STRICT=1 (.ci/run sets it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import services  # noqa: E402 - scripts/services.py beside this file

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "artifacts" / "test-logs"
# The one-machine default: no service URLs, whatever the calling shell exports.
UNSET_FOR_DEFAULT = ("DATABASE_URL", "DURABLE_BROKER_URL", "CHANNEL_LAYER_URL")
SLOWEST = 15


@dataclass
class Suite:
    name: str
    what: str
    pytest_args: list[str]
    needs: tuple[str, ...] = ()
    workers: int = 0  # pytest-xdist processes (0: none)
    env: dict[str, str] = field(default_factory=dict)
    # filled in while running
    state: str = "pending"  # passed, failed, not run
    reason: str = ""
    seconds: float = 0.0
    counts: str = ""
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"

    @property
    def junit(self) -> Path:
        return LOGS / f"{self.name}.xml"


def suites() -> list[Suite]:
    return [
        Suite("engine", "tests/engine: no database, no broker", ["tests/engine"]),
        Suite(
            "sqlite",
            "SQLite + embedded broker",
            ["tests", "--ignore", "tests/engine", "-m", "not postgres"],
            workers=2,
        ),
        # The browser tests and the schemathesis run check pages and the API contract,
        # not the database: the SQLite suite runs them; here they would only double CI time.
        Suite(
            "postgres",
            "PostgreSQL + RabbitMQ",
            [
                "tests",
                "--ignore",
                "tests/engine",
                "-m",
                "not browser",
                "--deselect",
                "tests/api/test_schema.py::test_every_operation_keeps_to_the_schema",
            ],
            needs=("postgres", "rabbitmq"),
            workers=3,
        ),
        Suite(
            "redis",
            "PostgreSQL + Redis, tests that run workers",
            ["tests", "--ignore", "tests/engine", "-m", "integration"],
            needs=("postgres", "redis"),
            workers=2,
        ),
    ]


def environment(suite: Suite, found: dict[str, services.Service]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET_FOR_DEFAULT}
    if "postgres" in suite.needs:
        env["DATABASE_URL"] = found["postgres"].url or ""
    for broker in ("rabbitmq", "redis"):
        if broker in suite.needs:
            env["DURABLE_BROKER_URL"] = found[broker].url or ""
    return {**env, **suite.env}


def command(suite: Suite, extra: list[str]) -> list[str]:
    args = [sys.executable, "-m", "pytest", *suite.pytest_args, "-q"]
    args += [f"--durations={SLOWEST}", f"--junitxml={suite.junit}", "-p", "no:cacheprovider"]
    if suite.workers:
        args += ["-n", str(suite.workers), "--dist", "loadgroup"]
    return args + extra


def start(suite: Suite, found: dict[str, services.Service], extra: list[str]) -> None:
    missing = [found[name] for name in suite.needs if not found[name].available]
    if missing:
        suite.state = "not run"
        suite.reason = "; ".join(f"{s.name} {s.state}: {s.detail}" for s in missing)
        return
    suite.log.unlink(missing_ok=True)
    suite.junit.unlink(missing_ok=True)
    with open(suite.log, "wb") as log:
        suite.process = subprocess.Popen(
            command(suite, extra),
            cwd=ROOT,
            env=environment(suite, found),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    suite.started = time.monotonic()
    print(f"test: {suite.name} started ({suite.what})", flush=True)


def finish(suite: Suite, code: int) -> None:
    suite.seconds = time.monotonic() - suite.started
    text = suite.log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    suite.counts = lines[-1].strip("= ") if lines else ""
    if code == 0:
        suite.state = "passed"
    elif code == 5:
        suite.state, suite.reason = "failed", "no test ran"
    else:
        suite.state = "failed"
    print(f"\n{'=' * 30} {suite.name}: {suite.state} in {suite.seconds:.0f} s {'=' * 30}")
    print(text if suite.state == "failed" else _summary_part(text), flush=True)


def _summary_part(text: str) -> str:
    """A passing suite's slowest tests and closing lines (the rest stays in its log)."""
    marker = text.find("slowest")
    return text[text.rfind("\n", 0, marker) + 1 :] if marker >= 0 else text[-3000:]


def slowest_tests(ran: list[Suite], count: int) -> list[tuple[float, str]]:
    """The slowest tests of the whole run (setup, call and teardown), with their suite."""
    found = []
    for suite in ran:
        if not suite.junit.exists():
            continue
        for case in ET.parse(suite.junit).iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            found.append((float(case.get("time", 0)), f"[{suite.name}] {name}"))
    return sorted(found, reverse=True)[:count]


def totals(ran: list[Suite]) -> dict[str, int]:
    counted = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    for suite in ran:
        if not suite.junit.exists():
            continue
        for case in ET.parse(suite.junit).iter("testcase"):
            tags = {child.tag for child in case}
            outcome = next((t for t in ("failure", "error", "skipped") if t in tags), "")
            key = {"failure": "failed", "error": "errors", "skipped": "skipped"}.get(outcome)
            counted[key or "passed"] += 1
    return counted


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    chosen = [s for s in suites() if not argv or s.name in argv]
    unknown = sorted(set(argv) - {s.name for s in suites()})
    if unknown or not chosen:
        print(f"unknown suite(s): {', '.join(unknown)}; choose from engine sqlite postgres redis")
        return 2
    began = time.monotonic()
    LOGS.mkdir(parents=True, exist_ok=True)
    needed = sorted({name for suite in chosen for name in suite.needs})
    found = services.ensure(needed)
    for service in found.values():
        print(f"services: {service.line()}")
    for suite in chosen:
        start(suite, found, extra)
    running = [s for s in chosen if s.process is not None]
    while running:
        for suite in list(running):
            code = suite.process.poll()
            if code is not None:
                running.remove(suite)
                finish(suite, code)
        time.sleep(0.2)

    ran = [s for s in chosen if s.state != "not run"]
    print(f"\n{'=' * 30} slowest {SLOWEST} tests of the run {'=' * 30}")
    for seconds, name in slowest_tests(ran, SLOWEST):
        print(f"{seconds:7.2f}s  {name}")
    print(f"\n{'=' * 30} summary {'=' * 30}")
    for suite in chosen:
        took = f"{suite.seconds:5.0f} s" if suite.state != "not run" else "      -"
        print(f"{suite.name:<9} {suite.state:<8} {took}  {suite.reason or suite.counts}")
    if not Path("/usr/bin/chromium").exists():
        print("note: browser tests skipped, no /usr/bin/chromium (apt-get install chromium)")
    strict = os.environ.get("DURABLEAPP_TEST_STRICT", "") not in ("", "0")
    not_run = [s for s in chosen if s.state == "not run"]
    failed = [s for s in chosen if s.state == "failed"]
    if not_run:
        verdict = "fails the run (DURABLEAPP_TEST_STRICT)" if strict else "does not fail the run"
        print(f"not run: {', '.join(s.name for s in not_run)}: {verdict}")
    print(f"total: {time.monotonic() - began:.0f} s")
    counted = totals(ran)
    print(
        f"tests: {counted['passed']} passed, {counted['failed'] + counted['errors']} failed, "
        f"{counted['skipped']} skipped"
    )
    return 1 if failed or (strict and not_run) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
