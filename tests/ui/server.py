"""A real ASGI server (`manage.py durable serve`: daphne + embedded worker) on the test database.

pytest-django's live_server is WSGI and has no websockets; this one serves
durableapp.asgi with the channels consumers, and runs workflows in the same process,
so the in-memory channel layer pushes every change to the open pages.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings

from tests.support.workers import ROOT, die_with_test_process, test_database_url
from workflows.conf import conf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# What `durable serve` says when it cannot take the port (it then exits with status 1).
LISTEN_FAILURE = "Cannot listen on"


class PortTaken(Exception):
    """The server could not listen: another process took the port first."""


class ServeProcess:
    """``durable serve`` in a child process; ``url`` once started."""

    def __init__(self, modules: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.modules = modules
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path = ROOT / "artifacts" / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 60, tries: int = 5) -> ServeProcess:
        """Start and wait until it answers (60 s: beside another `make test` a start
        took over 30). A port found free can be taken by another process (a second
        `make test` on the machine) before the server binds it: then start again on
        another port."""
        for _ in range(tries - 1):
            try:
                return self._start(timeout)
            except PortTaken:
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
        return self._start(timeout)

    def _start(self, timeout: float) -> ServeProcess:
        self.log_path.parent.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "DURABLE_BROKER_URL": settings.DURABLE_BROKER_URL,
            "DURABLE_TASK_HUB": conf.TASK_HUB,
            "DURABLE_WORKFLOW_MODULES": self.modules,
            "DURABLE_SWEEP_INTERVAL_SECONDS": "0.2",
            "DURABLE_REDELIVER_AFTER_SECONDS": "1",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CHANNEL_LAYER_URL": "",
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "manage.py", "durable", "serve", "--no-demo"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_test_process,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                if LISTEN_FAILURE in self.log_path.read_text():
                    raise PortTaken(self.port)
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=1) as response:
                    answered = response.status == 200
            except OSError:
                answered = False
            if answered and LISTEN_FAILURE not in self.log_path.read_text():
                return self
            if answered:  # another process's server on the port this one could not take
                self.stop()
                raise PortTaken(self.port)
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()
