"""The broker and the database restarted under load: workers stay up, nothing is lost.

These stop and start the machine's own services (the way `.ci/run` starts them), so
they disturb anything else using them: they are marked ``disruptive`` and run only
when DURABLEAPP_TEST_DISRUPTIVE=1 (the test runner's last phase, alone).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.db import close_old_connections, connection

from tests.support.checks import wait_until
from workflows.models import ActivityTask

pytestmark = [
    pytest.mark.integration,
    pytest.mark.disruptive,
    pytest.mark.usefixtures("real_broker"),
    pytest.mark.skipif(
        os.environ.get("DURABLEAPP_TEST_DISRUPTIVE") != "1",
        reason="restarts the machine's PostgreSQL/RabbitMQ/Redis: set DURABLEAPP_TEST_DISRUPTIVE=1 "
        "and run alone",
    ),
]

LOAD = {"steps": 6, "sleep": 0.2}


def run(*command: str) -> None:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed here: cannot restart the service")
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def broker_kind() -> str:
    import dramatiq

    return type(dramatiq.get_broker()).__name__


def stop_broker() -> None:
    if broker_kind() == "RabbitmqBroker":
        run("rabbitmqctl", "stop_app")
    else:
        run("redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave")


def start_broker() -> None:
    if broker_kind() == "RabbitmqBroker":
        run("rabbitmqctl", "start_app")
        run("rabbitmqctl", "await_startup")
        return
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    run(
        "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
        "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
        "--logfile", "/var/log/redis/ci.log",
    )  # fmt: skip
    wait_until(lambda: _redis_answers(), timeout=30, what="redis to answer")


def _redis_answers() -> bool:
    done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True)
    return done.stdout.strip() == b"PONG"


def restart_postgres() -> None:
    clusters = (
        sorted(p.name for p in Path("/etc/postgresql").glob("*"))
        if Path("/etc/postgresql").exists()
        else []
    )
    if not clusters or shutil.which("pg_ctlcluster") is None:
        pytest.skip("no Debian PostgreSQL cluster here (pg_ctlcluster): cannot restart it")
    version = clusters[-1]
    run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast")
    time.sleep(2)  # an outage, not a blip: connections fail meanwhile
    run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start")


def database_answers() -> bool:
    try:
        close_old_connections()
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - still down
        return False


def health(http) -> int:
    return http.get("/healthz").status_code


def started_load(client, count: int = 8) -> list[str]:
    ids = [client.start("t_slow_chain", LOAD) for _ in range(count)]
    wait_until(
        lambda: ActivityTask.objects.filter(status="completed").count() >= count,
        what="the load to be under way",
    )
    return ids


def all_finished(client, ids: list[str]) -> None:
    for iid in ids:
        state = client.wait_for_completion(iid, timeout=180)
        assert state.status == "completed", state.failure
        assert state.output == LOAD["steps"]


def test_a_broker_restart_mid_run_loses_nothing_and_workers_stay_up(client, worker_process_factory):
    from django.test import Client

    http = Client()
    workers = [worker_process_factory() for _ in range(2)]
    ids = started_load(client)

    stop_broker()
    try:
        assert health(http) == 503  # the outage shows while it lasts
    finally:
        start_broker()

    all_finished(client, ids)
    assert all(w.proc.poll() is None for w in workers), "a worker died with the broker"
    assert health(http) == 200


@pytest.mark.postgres
def test_a_database_restart_mid_run_loses_nothing_and_workers_recover(
    client, worker_process_factory
):
    from django.test import Client

    http = Client()
    workers = [worker_process_factory() for _ in range(2)]
    ids = started_load(client)

    restart_postgres()
    wait_until(database_answers, timeout=60, what="PostgreSQL to answer again")

    all_finished(client, ids)
    assert all(w.proc.poll() is None for w in workers), "a worker died with the database"
    assert health(http) == 200
    # The workers' threads recovered too: a new instance after the restart finishes.
    fresh = client.start("t_slow_chain", {"steps": 2, "sleep": 0.05})
    assert client.wait_for_completion(fresh, timeout=60).output == 2
