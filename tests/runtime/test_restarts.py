"""The broker and the database restarted under load: workers stay up, nothing is lost.

Each test deploys the app as processes (two `durable worker`s and the web process,
daphne) on *private* servers of its own (tests/support/private_services.py: a PostgreSQL
cluster, a RabbitMQ node, a Redis server in a temporary folder on free ports), starts a
load of instances, stops a server mid-run and starts it again. The machine's shared
services, which other test runs use at the same time, are never touched.

Checked each time: ``/healthz`` answers 503 while the server is down and 200 after; the
same worker processes are still running (no crash, no restart); every instance
finishes with the right output; an instance started after the restart finishes too.
How long the app took from "server back" to "every instance finished" is printed and
recorded in the JUnit report (README, "Failures and recovery").

Only the PostgreSQL suite runs them (marker ``postgres``: they need PostgreSQL's server
binaries; the Redis suite selects ``integration`` tests only). A server not installed
here skips its tests with the reason; under DURABLEAPP_TEST_STRICT (CI) it fails them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.checks import wait_until
from tests.support.deployment import Deployment, Process, time_since
from tests.support.private_services import (
    PrivatePostgres,
    PrivateRabbitMQ,
    PrivateRedis,
    PrivateServer,
    private,
)

pytestmark = pytest.mark.postgres

LOAD = {"steps": 6, "sleep": 0.3}  # each step: 2 activities at once, then a timer
COUNT = 12  # 24 activities at once: three times the workers' 8 activity threads
OUTAGE_SECONDS = 3  # an outage, not a blip: every reconnection attempt meanwhile fails
LOGS = Path(__file__).resolve().parents[2] / "artifacts" / "restarts" / str(os.getpid())


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    yield from private(PrivatePostgres)


@pytest.fixture
def rabbitmq() -> Iterator[PrivateRabbitMQ]:
    yield from private(PrivateRabbitMQ)


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    yield from private(PrivateRedis)


@pytest.fixture
def database(postgres: PrivatePostgres) -> str:
    """A migrated database on the private cluster."""
    url = postgres.create_database("durable")
    Deployment(url, "embedded", hub="migrate", logs=LOGS).migrate()
    return url


@pytest.fixture
def deploy(database: str, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Deployment]]:
    made: list[Deployment] = []

    def make(broker_url: str) -> Deployment:
        app = Deployment(database, broker_url, hub=request.node.name[5:40], logs=LOGS)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def under_load(app: Deployment) -> tuple[list[Process], list[str]]:
    """Two workers, the web process and COUNT instances with activities running."""
    workers = app.start(workers=2)
    ids = app.start_instances("r_steps", LOAD, COUNT)
    wait_until(
        lambda: app.activities_done() >= 2 * COUNT, timeout=120, what="the load to be under way"
    )
    assert not app.finished(ids), "the load ended before the outage: make it longer"
    return workers, ids


def outage(app: Deployment, server: PrivateServer) -> float:
    """Stop ``server``, see /healthz report it, start it again: when it was back."""
    server.stop()
    wait_until(lambda: app.health() == 503, timeout=60, poll=0.2, what="/healthz to say 503")
    time.sleep(OUTAGE_SECONDS)
    assert app.health() == 503  # for as long as it lasts
    server.start()
    return time.monotonic()


def recovered(
    app: Deployment,
    workers: list[Process],
    ids: list[str],
    back: float,
    record: Callable[[str, object], None],
) -> None:
    """Everything finished, by the same worker processes, and the app is healthy."""
    wait_until(lambda: app.finished(ids), timeout=240, poll=0.2, what="every instance to end")
    settled = time_since(back)
    found = app.statuses(ids)
    assert found == {iid: ("completed", LOAD["steps"]) for iid in ids}
    dead = [w.log for w in workers if not w.alive]
    assert not dead, f"worker(s) exited: {[p.read_text()[-2000:] for p in dead]}"
    wait_until(lambda: app.health() == 200, timeout=60, poll=0.2, what="/healthz to say 200")
    # The workers' threads recovered too: an instance started now finishes.
    fresh = app.start_instances("r_steps", {"steps": 2, "sleep": 0.05}, 1)
    wait_until(lambda: app.finished(fresh), timeout=120, poll=0.2, what="a new instance to end")
    assert app.statuses(fresh)[fresh[0]] == ("completed", 2)
    assert all(w.alive for w in workers)
    record("seconds_from_back_to_all_finished", settled)
    print(f"\nrestart: server back -> {COUNT} instances finished in {settled} s")


def test_a_rabbitmq_restart_mid_run_loses_nothing_and_workers_stay_up(
    deploy, rabbitmq, record_property
):
    app = deploy(rabbitmq.url)
    workers, ids = under_load(app)
    back = outage(app, rabbitmq)
    recovered(app, workers, ids, back, record_property)


def test_a_redis_restart_mid_run_loses_nothing_and_workers_stay_up(deploy, redis, record_property):
    # Without persistence (as here) the restart drops every waiting message: the
    # sweepers send them again from the database.
    app = deploy(redis.url)
    workers, ids = under_load(app)
    back = outage(app, redis)
    recovered(app, workers, ids, back, record_property)


def test_a_postgres_restart_mid_run_loses_nothing_and_processes_reconnect(
    deploy, postgres, rabbitmq, record_property
):
    app = deploy(rabbitmq.url)
    workers, ids = under_load(app)
    back = outage(app, postgres)
    recovered(app, workers, ids, back, record_property)
