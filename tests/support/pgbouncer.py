"""A local PgBouncer in transaction pooling, for running tests behind it.

Debian's `pgbouncer` package (1.18 on bookworm: no prepared statements in transaction
pooling) provides the binary; nothing here needs its service or /etc/pgbouncer. The
configuration, log and pid file live in a temporary directory. PgBouncer listens on
127.0.0.1 only (6432 if free, else any free port), lets every user in without a password
(``auth_type = trust``, as the local PostgreSQL does) and forwards every database name
(``* = host=… port=…``) to PostgreSQL, so Django creates its test database through it.

``make test`` (scripts/run_tests.py) starts one in front of PostgreSQL for the Redis
suite, the tests that run workers. Run any command behind one::

    DURABLE_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/ \\
        .venv/bin/python -m tests.support.pgbouncer run -- \\
        .venv/bin/python -m pytest tests/runtime tests/limits -q -n 2

The command gets ``DATABASE_URL=postgres://postgres@127.0.0.1:<port>/<database>`` and
``DATABASE_PGBOUNCER=1``. pytest-django creates its test databases through PgBouncer;
before it drops them, tests/conftest.py closes PgBouncer's idle server connections to
them (``KILL`` on the admin console): DROP DATABASE fails while any session is
connected ("being accessed by other users").

In a test: ``with PgBouncer(upstream_port=5432) as bouncer: bouncer.url("dbname")``.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_PORT = 6432


def free_port(preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` if nothing listens on it on 127.0.0.1, else a port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            # As a listener binds: a port whose old connections linger (TIME_WAIT) is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


class PgBouncer:
    """One pgbouncer process in transaction pooling; ``stop()`` (or the ``with`` block's
    end) kills it and removes its directory."""

    def __init__(
        self,
        *,
        port: int | None = None,
        upstream_host: str = "127.0.0.1",
        upstream_port: int = 5432,
        user: str = "postgres",
        pool_size: int = 20,
        binary: str | None = None,
    ) -> None:
        self.port = port
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.user = user
        self.pool_size = pool_size
        self.binary = binary or shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: Path | None = None

    # -- life cycle ---------------------------------------------------------------------
    def start(self, timeout: float = 10) -> PgBouncer:
        if not Path(self.binary).exists():
            raise RuntimeError(
                f"no pgbouncer at {self.binary}: install it (apt-get install -y pgbouncer)"
            )
        self.port = self.port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(self._config())
        command = [self.binary]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root: it drops to the postgres system user, which
            # must be able to write its log in the directory.
            system_user = "postgres"
            shutil.chown(self.dir, user=pwd.getpwnam(system_user).pw_uid)
            for child in self.dir.iterdir():
                shutil.chown(child, user=pwd.getpwnam(system_user).pw_uid)
            command += ["-u", system_user]
        command.append(str(self.dir / "pgbouncer.ini"))
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_until_listening(timeout)
        return self

    def _config(self) -> str:
        return f"""\
[databases]
* = host={self.upstream_host} port={self.upstream_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/users.txt
admin_users = {self.user}
pool_mode = transaction
max_client_conn = 1000
default_pool_size = {self.pool_size}
; Tests make and drop many short-lived client connections.
log_connections = 0
log_disconnections = 0
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
"""

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited early:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on {self.port} in {timeout} s")

    def stop(self) -> None:
        """SIGTERM (PgBouncer's immediate shutdown: server connections close at once)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PgBouncer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use ----------------------------------------------------------------------------
    def url(self, database: str) -> str:
        """DATABASE_URL of ``database`` through this PgBouncer."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        if self.dir is None or not (self.dir / "pgbouncer.log").exists():
            return ""
        return (self.dir / "pgbouncer.log").read_text(errors="replace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.pgbouncer",
        description="Run a command with DATABASE_URL pointing through a local PgBouncer "
        "in transaction pooling (DATABASE_PGBOUNCER=1).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="start PgBouncer, run the command, stop PgBouncer")
    run.add_argument("--database", default="postgres", help="DATABASE_URL's database name")
    run.add_argument("--port", type=int, default=0, help="listen port (0: 6432 or any free)")
    run.add_argument("--postgres-host", default="127.0.0.1")
    run.add_argument("--postgres-port", type=int, default=5432)
    run.add_argument("--user", default="postgres")
    run.add_argument("--pool-size", type=int, default=20, help="server connections per db")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    bouncer = PgBouncer(
        port=args.port or None,
        upstream_host=args.postgres_host,
        upstream_port=args.postgres_port,
        user=args.user,
        pool_size=args.pool_size,
    ).start()
    print(f"pgbouncer: listening on 127.0.0.1:{bouncer.port} (transaction pooling)", flush=True)
    env = {**os.environ, "DATABASE_URL": bouncer.url(args.database), "DATABASE_PGBOUNCER": "1"}
    try:
        return subprocess.call(command, env=env)
    finally:
        bouncer.stop()


if __name__ == "__main__":
    sys.exit(main())
