"""Real worker processes (`manage.py durable worker`) against the test database."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from workflows.conf import conf

ROOT = Path(__file__).resolve().parents[2]
TEST_WORKFLOW_MODULES = "tests.support.workflows"
# Timers and lost messages are picked up within fractions of a second; the in-process worker
# of a test gets the same as settings (fixture fast_sweeps). Every 0.5 s, not faster: an
# idle worker sweeping every 0.2 s spent 7.6% of a core on it, and a CI run starts 119.
FAST_SWEEPS = {"DURABLE_SWEEP_INTERVAL_SECONDS": "0.5", "DURABLE_REDELIVER_AFTER_SECONDS": "2"}


def test_database_url() -> str:
    """DATABASE_URL of the database the tests use (pytest-django's test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    host = s.get("HOST") or "127.0.0.1"
    if host.startswith("/"):  # a Unix socket's folder (the embedded PostgreSQL's)
        host = quote(host, safe="")
    port = s.get("PORT") or 5432
    auth = s.get("USER") or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


def die_with_test_process() -> None:
    """Run in the child before exec: SIGKILL it when the process that started it dies.

    A pytest process killed by a timeout, or a set-up that raised, must not leave workers
    behind: they would keep consuming the hub's queues and the machine's cores.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def uses_real_broker() -> bool:
    return settings.DURABLE_BROKER_URL != "embedded"


class WorkerProcess:
    """One `durable worker` child process; kill() is a SIGKILL (a crash)."""

    def __init__(self, threads: int = 4, env: dict[str, str] | None = None) -> None:
        self.threads = threads
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = ROOT / "artifacts" / f"worker-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "DURABLE_BROKER_URL": settings.DURABLE_BROKER_URL,
            "DURABLE_TASK_HUB": conf.TASK_HUB,
            "DURABLE_WORKFLOW_MODULES": TEST_WORKFLOW_MODULES,
            **FAST_SWEEPS,
            # A test's teardown need not wait out the production grace (30 s).
            "DURABLE_SHUTDOWN_GRACE_SECONDS": "3",
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "durable", "worker", "--threads", str(self.threads)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_test_process,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.kill()  # the caller never gets this object to stop it
            raise
        return self

    def _wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()}")
            if b"worker running" in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker did not start in {timeout} s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, exactly like a crashed machine."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()


class DurableWorkerCommand:
    """`manage.py durable worker --threads 1 ARGS` against the test database.

    For tests of the command itself (refusing to start, --force, --metrics-port);
    scenarios use :class:`WorkerProcess`. Output goes to a file, never a pipe that
    could fill up and block the worker.
    """

    def __init__(self, *args: str, modules: str = TEST_WORKFLOW_MODULES) -> None:
        self.log_path = ROOT / "artifacts" / f"command-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "DURABLE_BROKER_URL": settings.DURABLE_BROKER_URL,
            "DURABLE_TASK_HUB": conf.TASK_HUB,
            "DURABLE_WORKFLOW_MODULES": modules,
            "DURABLE_SWEEP_INTERVAL_SECONDS": "0.2",
            # A test's teardown need not wait out the production grace (30 s).
            "DURABLE_SHUTDOWN_GRACE_SECONDS": "3",
            "DURABLE_REDELIVER_AFTER_SECONDS": "1",
            "PYTHONPATH": str(ROOT),
        }
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "durable", "worker", "--threads", "1", *args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_test_process,
            )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60) -> str:
        """Wait until the output contains ``text``; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited before {text!r}:\n{self.output}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {text!r} after {timeout} s:\n{self.output}")
            time.sleep(0.1)
        return self.output

    def wait(self, timeout: float = 60) -> int:
        """The exit code; a process still running after ``timeout`` is killed, and the
        failure shows what it printed (how far its shutdown got)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise RuntimeError(f"still running after {timeout} s:\n{self.output}") from None

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as an operator's Ctrl-C; killed if it does not exit in time. A stop
        may take the grace (3 s here), the sweeper's and both pools' joins (up to 10 and
        2 x 6 s) and a database write: 30 s was not enough for an idle worker on a machine
        running two test runs at once (stop 31's check beside another `make test`)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)
