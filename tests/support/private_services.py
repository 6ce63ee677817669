"""Private PostgreSQL, Redis and RabbitMQ servers for tests that stop and start them.

The machine's own services are shared by every test run on it (the suites of ``make
test`` side by side, two ``make test`` at once), so a test must never restart them. These
servers belong to one test: their data, sockets, logs and cookies live in a temporary
folder, they listen on 127.0.0.1 on ports the kernel hands out, and ``close()`` removes
everything. ``stop()`` and ``start()`` may be called as often as a test likes: the data
folder stays, so what was written before a restart is there after it (a real restart).

Each class says what it lacks (``missing()``: a reason to skip with, or None). Example::

    with PrivatePostgres() as postgres, PrivateRabbitMQ() as rabbitmq:
        DATABASE_URL, DURABLE_BROKER_URL = postgres.url("app"), rabbitmq.url
        ...
        rabbitmq.stop()   # the outage
        rabbitmq.start()  # back, same data
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import psycopg
import pytest

STARTUP_SECONDS = 120  # RabbitMQ boots in ~10 s on an idle 2-core machine; CI is not idle
POSTGRES_BIN = ("/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/lib/postgresql/16/bin")
RABBITMQ_SERVER = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)  # Debian's, not its su wrapper


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A port nothing listens on now (127.0.0.1), below the kernel's ephemeral range.

    A server here is stopped and started again on its port. A port from the ephemeral
    range can meanwhile become the local end of an outgoing connection (a worker
    reconnecting), and the server cannot listen again ("eaddrinuse": a CI run's private
    RabbitMQ failed so). Below that range, only listeners take ports.
    """
    for _ in range(500):
        port = random.randrange(10000, _ephemeral_floor())
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port below the ephemeral range")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def wait_for(condition, what: str, timeout: float = STARTUP_SECONDS, log: Path | None = None):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} not within {timeout} s\n{tail}")
        time.sleep(0.1)


def _find(name: str, folders: tuple[str, ...]) -> str | None:
    for folder in folders:
        if Path(folder, name).is_file():
            return str(Path(folder, name))
    return shutil.which(name)


class PrivateServer:
    """A server in a temporary folder; subclasses say how it starts, stops and answers."""

    name = "server"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"durable-{self.name}-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def missing(cls) -> str | None:  # pragma: no cover - overridden
        return None

    @property
    def log(self) -> Path:
        return self.dir / f"{self.name}.log"

    def _spawn(self, command: list[str], env: dict[str, str] | None = None, **kw) -> None:  # noqa: ANN003
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # signals to its group reach no test process
                **kw,
            )

    def _end(self, timeout: float = 60) -> None:
        """SIGTERM to the server's process group (a clean shutdown), SIGKILL if it hangs."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None

    def start(self) -> PrivateServer:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):  # noqa: ANN204 - the subclass
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class PrivatePostgres(PrivateServer):
    """A PostgreSQL cluster of its own (``initdb``; trust authentication, user postgres).

    Run as root, the server runs as the ``postgres`` system user (PostgreSQL refuses root).
    """

    name = "postgres"

    @classmethod
    def missing(cls) -> str | None:
        if _find("initdb", POSTGRES_BIN) is None or _find("pg_ctl", POSTGRES_BIN) is None:
            return "PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "run as root but there is no 'postgres' user to run PostgreSQL as"
        return None

    def __init__(self) -> None:
        super().__init__()
        self.data = self.dir / "data"
        self.initialized = False

    def _as_owner(self, *command: str) -> None:
        owner = None
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            if self.log.exists():
                os.chown(self.log, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            [_find(command[0], POSTGRES_BIN) or command[0], *command[1:]],
            check=True,
            capture_output=True,
            timeout=STARTUP_SECONDS,
            user=owner.pw_uid if owner else None,
            group=owner.pw_gid if owner else None,
            cwd=self.dir,
        )

    def start(self) -> PrivatePostgres:
        if not self.initialized:
            self._as_owner(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            )
            self.initialized = True
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_owner(
            "pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log), "-o", options
        )
        wait_for(self.answers, "private PostgreSQL to answer", log=self.log)
        return self

    def stop(self) -> None:
        """A fast shutdown (what ``systemctl restart postgresql`` does): sessions are cut."""
        if self.initialized and (self.data / "postmaster.pid").exists():
            self._as_owner("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def answers(self) -> bool:
        try:
            psycopg.connect(self.url("postgres"), connect_timeout=2).close()
        except psycopg.Error:
            return False
        return True

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, database: str) -> str:
        """CREATE DATABASE; returns its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database))
            )
        return self.url(database)


class PrivateRedis(PrivateServer):
    """``redis-server`` without persistence: a restart loses every message, like a real
    one configured so."""

    name = "redis"

    @classmethod
    def missing(cls) -> str | None:
        return None if _find("redis-server", ("/usr/bin",)) else "redis-server is not installed"

    def start(self) -> PrivateRedis:
        server = _find("redis-server", ("/usr/bin",)) or "redis-server"
        self._spawn(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ]
        )
        wait_for(self.answers, "private Redis to answer", log=self.log)
        return self

    def stop(self) -> None:
        self._end()

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class PrivateRabbitMQ(PrivateServer):
    """A RabbitMQ node of its own: its own node name, AMQP and distribution ports, Mnesia
    folder, logs, config (no plugins: no management listener) and Erlang cookie (HOME is
    the folder). It shares the machine's epmd, which serves many nodes by name."""

    name = "rabbitmq"

    @classmethod
    def missing(cls) -> str | None:
        if _find("rabbitmq-server", ("/usr/lib/rabbitmq/bin",)) is None:
            return "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
        return None

    def __init__(self) -> None:
        super().__init__()
        self.node = f"durable{self.port}@localhost"
        dist_port = free_port()
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users.guest = true\n"
        )
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq one
        self.env = {
            **os.environ,
            "HOME": str(self.dir),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self) -> PrivateRabbitMQ:
        server = _find("rabbitmq-server", ("/usr/lib/rabbitmq/bin",)) or "rabbitmq-server"
        self._spawn([server], env=self.env, cwd=self.dir)
        wait_for(self.answers, "private RabbitMQ to accept connections", log=self.log)
        return self

    def stop(self) -> None:
        """SIGTERM: the node shuts down cleanly (connections closed, queues on disk)."""
        self._end()
        wait_for(lambda: not port_open(self.port), "private RabbitMQ to stop listening", 30)

    def answers(self) -> bool:
        try:
            pika.BlockingConnection(pika.URLParameters(self.url + "?connection_attempts=1")).close()
        except pika.exceptions.AMQPError:
            return False
        return True

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"


def private(server: type[PrivateServer]) -> Iterator[PrivateServer]:
    """A fixture's body: ``server`` started for the test and removed after it; skipped
    with the reason when it is not installed here (failed under DURABLEAPP_TEST_STRICT,
    as in CI, where every test must run).

    Example::

        @pytest.fixture
        def postgres() -> Iterator[PrivatePostgres]:
            yield from private(PrivatePostgres)
    """
    reason = server.missing()
    if reason and os.environ.get("DURABLEAPP_TEST_STRICT", "") not in ("", "0"):
        pytest.fail(f"needs a private {server.name} server (DURABLEAPP_TEST_STRICT): {reason}")
    if reason:
        pytest.skip(f"needs a private {server.name} server: {reason}")
    instance = server().start()
    try:
        yield instance
    finally:
        instance.close()
