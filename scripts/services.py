"""The services the test suites use: PostgreSQL, RabbitMQ and Redis, started where needed.

    python scripts/services.py [postgres] [rabbitmq] [redis] [pgbouncer]

For each service: if it answers at its URL, it is used; if it is installed here and down,
it is started (the commands of Debian's packages, as root or as their owner can); if
PostgreSQL is not installed at all, an embedded one from the ``pgserver`` wheel is
installed into this virtualenv and started (data and socket in the temporary folder,
kept running like a service); a broker that is not installed is reported missing, with
the command that installs it. PgBouncer is only looked for (each test run starts its
own, scripts/run_tests.py). On Debian's cluster (the one pg_ctlcluster starts), a
``max_connections`` below CONNECTIONS_WANTED is raised once, restarting the server while
nobody else is connected (:func:`connection_room`): two test runs at once need more
than the default 100. ``make test`` (scripts/run_tests.py) calls this first; the
suites of a missing service are reported as not run.

The URLs come from POSTGRES_URL, RABBITMQ_URL and REDIS_URL (the Makefile's defaults).
DURABLEAPP_TEST_PRETEND_MISSING=postgres,rabbitmq,redis,pgbouncer pretends those are not installed
(to check what a machine without them gets).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

try:
    import psycopg
except ImportError:  # an interpreter without it (not the project's venv): ports only
    psycopg = None

DEFAULT_URLS = {
    "postgres": "postgres://postgres@127.0.0.1:5432/postgres",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
    "redis": "redis://127.0.0.1:6379/0",
}
INSTALL = {
    "postgres": "apt-get install postgresql (or nothing: the embedded one from pip is used)",
    "rabbitmq": "apt-get install rabbitmq-server",
    "redis": "apt-get install redis-server",
    "pgbouncer": "apt-get install pgbouncer",
}
PGSERVER = "pgserver==0.1.4"  # PostgreSQL 16 binaries in a wheel (Linux, macOS)
EMBEDDED_PGDATA = Path(tempfile.gettempdir()) / "durableapp-postgres"
STARTUP_SECONDS = 60
# One `make test` holds up to about 60 PostgreSQL sessions at its peak (worker processes
# keep a connection per thread); the default max_connections (100) let two runs at once
# fail with "sorry, too many clients already". Raised once, while nobody is connected.
CONNECTIONS_WANTED = 300


@dataclass
class Service:
    name: str
    url: str | None  # None: not available
    state: str  # up (was running), started, embedded, missing, failed
    detail: str = ""

    @property
    def available(self) -> bool:
        return self.url is not None

    def line(self) -> str:
        where = self.url or "-"
        return f"{self.name:<9} {self.state:<9} {where}" + (
            f"  ({self.detail})" if self.detail else ""
        )


def url_of(name: str) -> str:
    return os.environ.get(f"{name.upper()}_URL") or DEFAULT_URLS[name]


def _pretend_missing(name: str) -> bool:
    return name in os.environ.get("DURABLEAPP_TEST_PRETEND_MISSING", "").replace(" ", "").split(",")


def _which(command: str) -> str | None:
    """A command, also from /usr/sbin and /usr/lib/postgresql (not always on PATH)."""
    found = shutil.which(command)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        if Path(folder, command).is_file():
            return str(Path(folder, command))
    return None


def _tcp_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _wait(check, what: str) -> bool:  # noqa: ANN001 - a callable returning bool
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    print(f"services: {what} did not come up within {STARTUP_SECONDS} s", file=sys.stderr)
    return False


def _run(command: list[str]) -> bool:
    result = subprocess.run(command, capture_output=True, text=True, timeout=STARTUP_SECONDS)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        print(f"services: {' '.join(command)} failed: {output}", file=sys.stderr)
    return result.returncode == 0


# -- PostgreSQL ---------------------------------------------------------------------------------
def _postgres_answers(url: str) -> bool:
    if psycopg is None:  # not in this interpreter: the port will do
        return _tcp_open(url, 5432)
    try:
        psycopg.connect(_libpq(url), connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def _debian_clusters() -> list[str]:
    root = Path("/etc/postgresql")
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def ensure_postgres() -> Service:
    url = url_of("postgres")
    clusters = _debian_clusters()
    cluster = None
    if clusters and _which("pg_ctlcluster") and not _pretend_missing("postgres"):
        cluster = clusters[-1]
    if _postgres_answers(url):
        state = "up"
    elif cluster is not None:
        started = _run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start"])
        if not (started and _wait(lambda: _postgres_answers(url), "PostgreSQL")):
            return Service("postgres", None, "failed", f"pg_ctlcluster {cluster} main start")
        state = "started"
    else:
        return _embedded_postgres()
    detail = _room_on_cluster(url, cluster)
    if detail and not _postgres_answers(url):  # a restart that did not come back
        return Service("postgres", None, "failed", detail)
    return Service("postgres", url, state, detail)


def _room_on_cluster(url: str, cluster: str | None) -> str:
    """:func:`connection_room` for Debian's cluster ``cluster`` (restarted by
    pg_ctlcluster), when ``url`` reaches that very cluster; elsewhere nothing is changed."""
    if cluster is None:
        return ""
    data = Path("/var/lib/postgresql", cluster, "main")

    def restart() -> bool:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"]
        return _run(command) and _wait(lambda: _postgres_answers(url), "PostgreSQL")

    return connection_room(url, restart, data_directory=data)


def connection_room(url: str, restart: Callable[[], bool], data_directory: Path) -> str:
    """Make the server at ``url`` (whose data is in ``data_directory``) allow
    CONNECTIONS_WANTED connections: ``max_connections`` raised (ALTER SYSTEM) and the
    server restarted by ``restart()``, only while nobody else is connected, since a
    restart cuts every session. Returns what it did, or why it left the server alone
    ('' when nothing was needed). Two test runs starting at once take turns (a lock file):
    the second finds the room made.

    Example::

        connection_room(url, restart, Path("/var/lib/postgresql/15/main"))
        # -> 'max_connections 100 -> 300 (restarted once: room for two test runs at once)'
    """
    if psycopg is None:
        return ""
    lock_path = Path(tempfile.gettempdir()) / "durableapp-postgres-room.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as conn:
                had = int(conn.execute("SHOW max_connections").fetchone()[0])
                if had >= CONNECTIONS_WANTED:
                    return ""
                where = conn.execute("SHOW data_directory").fetchone()[0]
                if Path(where).resolve() != data_directory.resolve():
                    return ""  # another server than the one restart() restarts
                others = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client "
                    "backend' AND pid <> pg_backend_pid()"
                ).fetchone()[0]
                advice = (
                    f"max_connections is {had}: two test runs at once may exceed it "
                    f'("too many clients"); raise it to {CONNECTIONS_WANTED}: ALTER SYSTEM SET '
                    "max_connections = ... and restart PostgreSQL"
                )
                if others:
                    return f"{advice} (left alone: {others} other session(s) connected)"
                conn.execute(f"ALTER SYSTEM SET max_connections = {CONNECTIONS_WANTED}")
        except psycopg.Error as exc:
            return f"max_connections not checked: {str(exc).strip()}"
        if not restart():
            return (
                f"max_connections {had} -> {CONNECTIONS_WANTED} set, but the restart failed: "
                "it takes effect when PostgreSQL next starts"
            )
        return (
            f"max_connections {had} -> {CONNECTIONS_WANTED} "
            "(restarted once: room for two test runs at once)"
        )


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _embedded_postgres() -> Service:
    """PostgreSQL from the pgserver wheel, on a socket in the temporary folder.

    Run as root it runs the server as a user ``pgserver`` (made if missing) and opens the
    folders on the way to its binaries for others to read (pgserver does both).
    """
    try:
        import pgserver  # noqa: F401 - only whether it is there
    except ImportError:
        print(f"services: PostgreSQL is not installed; installing {PGSERVER} from PyPI")
        install = [sys.executable, "-m", "pip", "install", "--quiet", PGSERVER]
        if subprocess.run(install).returncode != 0:
            return Service("postgres", None, "failed", f"pip install {PGSERVER}")
    # In a child process: pgserver's handle would stop the server when this one exits.
    start = (
        "import pgserver, sys; "
        "server = pgserver.get_server(sys.argv[1], cleanup_mode=None); "
        "print(server.get_postmaster_info().socket_dir)"
    )
    EMBEDDED_PGDATA.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", start, str(EMBEDDED_PGDATA)],
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS * 2,
    )
    if result.returncode != 0:
        print(f"services: embedded PostgreSQL failed:\n{result.stderr}", file=sys.stderr)
        return Service("postgres", None, "failed", f"embedded server in {EMBEDDED_PGDATA}")
    socket_dir = result.stdout.strip().splitlines()[-1]
    url = f"postgres://postgres@{quote(socket_dir, safe='')}:5432/postgres"
    if not _wait(lambda: _postgres_answers(url), "embedded PostgreSQL"):
        return Service("postgres", None, "failed", f"embedded server in {EMBEDDED_PGDATA}")
    return Service("postgres", url, "embedded", f"{PGSERVER}, data in {EMBEDDED_PGDATA}")


# -- brokers ------------------------------------------------------------------------------------
def _redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis() -> Service:
    url = url_of("redis")
    if _redis_answers(url):
        return Service("redis", url, "up")
    server = _which("redis-server")
    if server is None or _pretend_missing("redis"):
        return Service("redis", None, "missing", f"not installed: {INSTALL['redis']}")
    port = str(urlsplit(url).port or 6379)
    folder = Path("/var/lib/redis") if os.geteuid() == 0 else Path(tempfile.gettempdir())
    log = Path("/var/log/redis") if os.geteuid() == 0 else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    log.mkdir(parents=True, exist_ok=True)
    command = [server, "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", port]
    command += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    command += ["--logfile", str(log / "durableapp-tests.log")]
    if _run(command) and _wait(lambda: _redis_answers(url), "Redis"):
        return Service("redis", url, "started")
    return Service("redis", None, "failed", " ".join(command))


def ensure_rabbitmq() -> Service:
    url = url_of("rabbitmq")
    if _tcp_open(url, 5672):
        return Service("rabbitmq", url, "up")
    server = _which("rabbitmq-server")
    if server is None or _pretend_missing("rabbitmq"):
        return Service("rabbitmq", None, "missing", f"not installed: {INSTALL['rabbitmq']}")
    if _run([server, "-detached"]) and _wait(lambda: _tcp_open(url, 5672), "RabbitMQ"):
        return Service("rabbitmq", url, "started")
    return Service("rabbitmq", None, "failed", f"{server} -detached (see its log)")


# -- PgBouncer ----------------------------------------------------------------------------------
def ensure_pgbouncer() -> Service:
    """Only whether the binary is here: each test run starts a PgBouncer of its own in front
    of PostgreSQL (scripts/run_tests.py, tests/support/pgbouncer.py); its ``url`` is the
    binary's path."""
    binary = _which("pgbouncer")
    if binary is None or _pretend_missing("pgbouncer"):
        return Service("pgbouncer", None, "missing", f"not installed: {INSTALL['pgbouncer']}")
    return Service("pgbouncer", binary, "installed", "started per test run")


ENSURE = {
    "postgres": ensure_postgres,
    "rabbitmq": ensure_rabbitmq,
    "redis": ensure_redis,
    "pgbouncer": ensure_pgbouncer,
}


def ensure(names: list[str]) -> dict[str, Service]:
    return {name: ENSURE[name]() for name in names}


def main(argv: list[str]) -> int:
    names = argv or list(ENSURE)
    unknown = sorted(set(names) - set(ENSURE))
    if unknown:
        print(f"unknown service(s): {', '.join(unknown)}; choose from {', '.join(ENSURE)}")
        return 2
    services = ensure(names)
    for service in services.values():
        print(service.line())
    return 0 if all(s.available for s in services.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
