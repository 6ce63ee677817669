"""durableapp deployed as processes on given services: a web process and `durable worker`s.

For tests that take a service away under them (tests/runtime/test_restarts.py): nothing
runs in the test's own process, which only starts instances (through a client process,
tests/support/restart_client.py, as a script of the app would), reads their state from
the database and asks the web process's ``/healthz``. Example::

    app = Deployment(postgres.url("app"), rabbitmq.url, hub="restart1", logs=folder)
    app.migrate()
    workers = app.start(workers=2)  # and the web process and the client, all at once
    ids = app.start_instances("r_steps", {"steps": 2, "sleep": 0.1}, count=5)
    wait_until(lambda: app.finished(ids))
    app.close()
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

from tests.support.checks import wait_until
from tests.support.private_services import free_port
from tests.support.workers import TEST_WORKFLOW_MODULES, die_with_test_process

WORKFLOW_MODULES = f"{TEST_WORKFLOW_MODULES},tests.support.restart_workflows"
ROOT = Path(__file__).resolve().parents[2]
# Settings a test run may have set in this process's environment that must not reach them.
NOT_INHERITED = ("DATABASE_PGBOUNCER", "DURABLE_BROKER_URL", "DATABASE_URL", "DURABLE_TASK_HUB")


class Process:
    """One child process with its output in a file; ``pid`` stays the same while it lives.
    With ``talk=True`` its stdin and stdout are pipes (``ask``); its stderr goes to the file.
    """

    def __init__(self, command: list[str], env: dict[str, str], log: Path, talk: bool = False):
        self.log = log
        pipe = subprocess.PIPE if talk else None
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=pipe,
                stdout=pipe or out,
                stderr=out if talk else subprocess.STDOUT,
                text=talk,
                preexec_fn=die_with_test_process,
            )
        self.pid = self.proc.pid
        self.terminated = False

    def answer(self, timeout: float = 120) -> object:
        """The next line the process prints, as JSON."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise AssertionError(f"no answer in {timeout} s:\n{self.output()[-3000:]}")
        return json.loads(line)

    def ask(self, request: dict, timeout: float = 120) -> object:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.answer(timeout)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 120) -> None:
        def seen() -> bool:
            if not self.alive:
                raise RuntimeError(f"exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            return text in self.output()

        wait_until(seen, timeout=timeout, poll=0.1, what=f"{text!r} in {self.log}")

    def terminate(self) -> None:
        """SIGTERM (a deploy's stop), once; ``stop`` waits for the end."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self.alive and not self.terminated:
            self.proc.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self) -> None:
        self.terminate()
        if self.alive:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Deployment:
    """Web and worker processes of one task hub on one database and broker."""

    def __init__(self, database_url: str, broker_url: str, hub: str, logs: Path) -> None:
        self.database_url = database_url
        self.hub = hub
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        inherited = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        self.env = {
            **inherited,
            "DJANGO_SETTINGS_MODULE": "durableapp.settings",
            "DATABASE_URL": database_url,
            "DURABLE_BROKER_URL": broker_url,
            "DURABLE_TASK_HUB": hub,
            "DURABLE_WORKFLOW_MODULES": WORKFLOW_MODULES,
            # Production's sweeps, re-sends and leases (the recovery times are the
            # README's); only a test's teardown need not wait out the 30 s grace.
            "DURABLE_SHUTDOWN_GRACE_SECONDS": "3",
            "PYTHONPATH": str(ROOT),
        }
        self.processes: list[Process] = []
        self.web_port: int | None = None
        self.client: Process | None = None

    def manage(self, *args: str, timeout: float = 300) -> str:
        """``manage.py ARGS`` to its end; its output (fails the test on a non-zero exit)."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def migrate(self) -> None:
        self.manage("migrate", "--noinput")

    def _spawn(self, kind: str, command: list[str], talk: bool = False) -> Process:
        log = self.logs / f"{self.hub}-{kind}-{len(self.processes)}.log"
        process = Process(command, self.env, log, talk)
        self.processes.append(process)
        return process

    def start(self, workers: int = 2, threads: int = 4) -> list[Process]:
        """``workers`` `durable worker` processes, the web process as production runs it
        (daphne serving durableapp.asgi) and a client process, started at once; returns
        the workers once all of them run."""
        worker = [sys.executable, "manage.py", "durable", "worker", "--threads", str(threads)]
        started = [self._spawn("worker", worker) for _ in range(workers)]
        self.web_port = free_port()
        web = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.web_port)]
        self._spawn("web", [*web, "durableapp.asgi:application"])
        client = [sys.executable, "-m", "tests.support.restart_client"]
        self.client = self._spawn("client", client, talk=True)
        for process in started:
            process.wait_for_output("worker running")
        wait_until(lambda: self.health() == 200, timeout=120, poll=0.2, what="the web process")
        assert self.client.answer() == {"ready": True}
        return started

    def health(self) -> int | None:
        """GET /healthz's status; None if the web process does not answer at all."""
        url = f"http://127.0.0.1:{self.web_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=15) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def start_instances(self, name: str, input: object, count: int) -> list[str]:
        """Start ``count`` instances from the client process; their ids."""
        ids = self.client.ask({"name": name, "input": input, "count": count})
        assert isinstance(ids, list), ids
        return ids

    def statuses(self, ids: list[str]) -> dict[str, tuple[str, object]]:
        """instance id -> (status, output), read from the database."""
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT instance_id, status, output FROM workflows_instance "
                "WHERE task_hub = %s AND instance_id = ANY(%s)",
                [self.hub, ids],
            ).fetchall()
        return {iid: (status, output) for iid, status, output in rows}

    def finished(self, ids: list[str]) -> bool:
        """Every one of ``ids`` has ended (any terminal status); False while the database
        does not answer."""
        try:
            found = self.statuses(ids)
        except psycopg.OperationalError:
            return False
        ended = {"completed", "failed", "terminated"}
        return len(found) == len(ids) and all(s in ended for s, _ in found.values())

    def activities_done(self) -> int:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return conn.execute(
                "SELECT count(*) FROM workflows_activitytask "
                "WHERE task_hub = %s AND status = 'completed'",
                [self.hub],
            ).fetchone()[0]

    def close(self) -> None:
        for process in self.processes:
            process.terminate()  # all at once: each worker's grace runs in parallel
        for process in self.processes:
            process.stop()
        self.processes.clear()


def time_since(started: float) -> float:
    return round(time.monotonic() - started, 1)
