"""``make test``: the test suites side by side, then one summary.

    python scripts/run_tests.py [engine] [sqlite] [postgres] [redis] [-- PYTEST_ARGS]

* engine: tests/engine alone (no database, no broker);
* sqlite: the one-machine default, SQLite (WAL) and the embedded in-process broker;
* postgres: production shape, PostgreSQL and RabbitMQ;
* redis: PostgreSQL and Redis, the runtime's worker tests (the broker only changes
  transport) with the payload codec on (DURABLE_PAYLOAD_CODEC=aesgcm, a test key),
  through a PgBouncer in transaction pooling that this run starts in front of
  PostgreSQL (DATABASE_PGBOUNCER=1): the runtime behind a pooler, at no extra time.
  Without the pgbouncer binary the suite runs directly on PostgreSQL, said in the
  summary; with DURABLEAPP_TEST_STRICT=1 it is not run (fails the run).

The services come first (scripts/services.py: started where installed and down; an
embedded PostgreSQL where none is installed). The suites run at once, each in its own
pytest process with pytest-xdist workers; each process has its own task hub and test
database (tests/support/settings.py), so they share no state, and neither do two
``make test`` at once. Each suite's output goes to artifacts/test-logs/<suite>.log and is
printed when it ends. The summary gives each suite's outcome, time and CPU time (its
processes and all they started), the slowest tests of the whole run, and a suite that
could not run with the reason and the command that installs what it lacks. Exit
status: 1 if a suite failed; a suite not run fails the run only with
DURABLEAPP_TEST_STRICT=1 (.ci/run sets it).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]
import services  # noqa: E402 - scripts/services.py beside this file

from tests.support.pgbouncer import PgBouncer  # noqa: E402 - the repository's root, above

LOGS = ROOT / "artifacts" / "test-logs"
# The one-machine default: no service URLs, whatever the calling shell exports.
UNSET_FOR_DEFAULT = ("DATABASE_URL", "DURABLE_BROKER_URL", "CHANNEL_LAYER_URL")
SLOWEST = 15
# The Redis suite's payload codec: a fixed test key, never one of production.
CODEC_MODE = {
    "DURABLE_PAYLOAD_CODEC": "aesgcm",
    "DURABLE_PAYLOAD_KEYS": '{"ci1": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}',
    "DURABLE_PAYLOAD_KEY_ID": "ci1",
}


@dataclass
class Suite:
    name: str
    what: str
    pytest_args: list[str]
    needs: tuple[str, ...] = ()
    workers: int = 0  # pytest-xdist processes (0: none)
    via_pgbouncer: bool = False  # PostgreSQL through this run's PgBouncer
    env: dict[str, str] = field(default_factory=dict)
    # filled in while running
    state: str = "pending"  # passed, failed, not run
    reason: str = ""
    note: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system of the suite's processes, children included
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
            workers=4,
        ),
        # The browser tests, the schemathesis run, the permission matrix (who may call
        # which endpoint), the project's code checks and the security settings check
        # pages, the API contract and the code, not the database:
        # the SQLite suite runs them; here they would only add to CI time (8 minutes).
        Suite(
            "postgres",
            "PostgreSQL + RabbitMQ",
            [
                "tests",
                "--ignore",
                "tests/engine",
                "--ignore",
                "tests/project",
                "--ignore",
                "tests/security",
                "-m",
                "not browser and not (integration and one_real_broker)",
                "--deselect",
                "tests/api/test_schema.py::test_every_operation_keeps_to_the_schema",
                "--ignore",
                "tests/api/test_permission_matrix.py",
            ],
            needs=("postgres", "rabbitmq"),
            workers=5,
        ),
        # The broker only changes transport: the worker tests of the runtime and entities
        # (crash, sweeper, shutdown, batches, redelivery). Those marked one_real_broker
        # (the runtime's scenarios, async activities, typed payloads, cancellation,
        # timeouts, the CLI) run with worker processes here only, with the codec on; the
        # PostgreSQL suite runs those of their tests that start no worker. The samples, versioning,
        # recovery flows, activity limits and bulk operations (slots, rates and chunks
        # are database rows: 4 min of test time here) run on RabbitMQ in the PostgreSQL
        # suite.
        Suite(
            "redis",
            "PostgreSQL through PgBouncer + Redis, the runtime's worker tests",
            [
                "tests/runtime",
                "tests/entities",
                "-m",
                "integration",
            ],
            needs=("postgres", "redis"),
            workers=2,
            via_pgbouncer=True,
            # Codec mode: every payload this suite stores is encrypted (README, "Payloads");
            # tests/runtime/test_payloads_at_rest.py reads the rows back raw.
            env=CODEC_MODE,
        ),
    ]


def environment(
    suite: Suite, found: dict[str, services.Service], bouncer: PgBouncer | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET_FOR_DEFAULT}
    # Bytecode is kept (compile_project, and pytest's rewritten test modules): a run starts
    # some 200 Python processes, each compiling every module it imports when none is.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("DATABASE_PGBOUNCER", None)
    if "postgres" in suite.needs:
        env["DATABASE_URL"] = found["postgres"].url or ""
    if suite.via_pgbouncer and bouncer is not None:
        env["DATABASE_URL"] = bouncer.url(urlsplit(found["postgres"].url or "").path[1:])
        env["DATABASE_PGBOUNCER"] = "1"
    for broker in ("rabbitmq", "redis"):
        if broker in suite.needs:
            env["DURABLE_BROKER_URL"] = found[broker].url or ""
    return {**env, **suite.env}


def compile_project() -> None:
    """The project's bytecode, once, before the suites start. PYTHONDONTWRITEBYTECODE (set
    on some machines) would leave every worker, server and CLI process a test starts to
    compile the modules it imports again: a quarter of a `durable worker`'s start-up CPU."""
    folders = [str(ROOT / name) for name in ("durableapp", "workflows", "tests", "scripts")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *folders, str(ROOT / "manage.py")],
        check=True,
    )


def command(suite: Suite, extra: list[str]) -> list[str]:
    args = [sys.executable, "-m", "pytest", *suite.pytest_args, "-q"]
    args += [f"--durations={SLOWEST}", f"--junitxml={suite.junit}", "-p", "no:cacheprovider"]
    if suite.workers:
        args += ["-n", str(suite.workers), "--dist", "loadgroup"]
    return args + extra


def strict() -> bool:
    """DURABLEAPP_TEST_STRICT (.ci/run): every suite must run, as configured."""
    return os.environ.get("DURABLEAPP_TEST_STRICT", "") not in ("", "0")


def start_pgbouncer(found: dict[str, services.Service]) -> PgBouncer | None:
    """A PgBouncer (transaction pooling) in front of the suites' PostgreSQL, for this run."""
    postgres, binary = found["postgres"].url, found["pgbouncer"].url
    if postgres is None or binary is None:
        return None
    parts = urlsplit(postgres)
    # The host may be a socket's folder, percent-encoded (the embedded PostgreSQL's).
    host, _, port = parts.netloc.rpartition("@")[2].rpartition(":")
    bouncer = PgBouncer(
        upstream_host=unquote(host) or "127.0.0.1",
        upstream_port=int(port or 5432),
        user=parts.username or "postgres",
        # Per test database (one per xdist process): the transactions at once of a test's
        # worker processes; more wait for a server connection (PostgreSQL's 100
        # connections are shared by every test run on the machine).
        pool_size=20,
        binary=binary,
    )
    try:
        return bouncer.start()
    except RuntimeError as exc:  # reported as the suite's reason (not run, or direct)
        found["pgbouncer"] = services.Service("pgbouncer", None, "failed", str(exc)[:300])
        return None


def start(
    suite: Suite, found: dict[str, services.Service], bouncer: PgBouncer | None, extra: list[str]
) -> None:
    missing = [found[name] for name in suite.needs if not found[name].available]
    if suite.via_pgbouncer and bouncer is None and not missing:
        if strict():
            missing = [found["pgbouncer"]]
        else:
            suite.note = (
                f"directly on PostgreSQL, not through PgBouncer ({found['pgbouncer'].detail})"
            )
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
            env=environment(suite, found, bouncer),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    suite.started = time.monotonic()
    print(f"test: {suite.name} started ({suite.note or suite.what})", flush=True)


def reaped(suite: Suite) -> int | None:
    """The suite's exit code once its pytest process has ended, else None. wait4 also gives
    the CPU time of the process and of every process it waited for (xdist workers, the
    worker processes, servers and browsers the tests started): the figure that decides
    how two runs at once share the machine's cores."""
    process = suite.process
    pid, status, usage = os.wait4(process.pid, os.WNOHANG)
    if pid == 0:
        return None
    process.returncode = os.waitstatus_to_exitcode(status)
    suite.cpu_seconds = usage.ru_utime + usage.ru_stime
    return process.returncode


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
    needed = {name for suite in chosen for name in suite.needs}
    if any(suite.via_pgbouncer for suite in chosen):
        needed |= {"postgres", "pgbouncer"}
    compile_project()
    found = services.ensure(sorted(needed))
    for service in found.values():
        print(f"services: {service.line()}")
    bouncer = start_pgbouncer(found) if "pgbouncer" in found else None
    if bouncer is not None:
        print(f"services: pgbouncer listening on 127.0.0.1:{bouncer.port} (transaction pooling)")
    try:
        for suite in chosen:
            start(suite, found, bouncer, extra)
        running = [s for s in chosen if s.process is not None]
        while running:
            for suite in list(running):
                code = reaped(suite)
                if code is not None:
                    running.remove(suite)
                    finish(suite, code)
            time.sleep(0.2)
    finally:
        if bouncer is not None:
            bouncer.stop()

    ran = [s for s in chosen if s.state != "not run"]
    print(f"\n{'=' * 30} slowest {SLOWEST} tests of the run {'=' * 30}")
    for seconds, name in slowest_tests(ran, SLOWEST):
        print(f"{seconds:7.2f}s  {name}")
    print(f"\n{'=' * 30} summary {'=' * 30}")
    for suite in chosen:
        took = f"{suite.seconds:5.0f} s" if suite.state != "not run" else "      -"
        if suite.state != "not run":
            took += f"  cpu {suite.cpu_seconds:4.0f} s"
        print(f"{suite.name:<9} {suite.state:<8} {took}  {suite.reason or suite.counts}")
        if suite.note:
            print(f"{'':<9} note: {suite.note}")
    if not Path("/usr/bin/chromium").exists():
        print("note: browser tests skipped, no /usr/bin/chromium (apt-get install chromium)")
    not_run = [s for s in chosen if s.state == "not run"]
    failed = [s for s in chosen if s.state == "failed"]
    if not_run:
        verdict = "fails the run (DURABLEAPP_TEST_STRICT)" if strict() else "does not fail the run"
        print(f"not run: {', '.join(s.name for s in not_run)}: {verdict}")
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    # The database and broker servers' own CPU is not in it (they are not our children).
    print(f"total: {time.monotonic() - began:.0f} s, cpu {cpu:.0f} s (the services' not counted)")
    counted = totals(ran)
    print(
        f"tests: {counted['passed']} passed, {counted['failed'] + counted['errors']} failed, "
        f"{counted['skipped']} skipped"
    )
    return 1 if failed or (strict() and not_run) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
