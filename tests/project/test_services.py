"""scripts/services.py makes room for two test runs at once: PostgreSQL's max_connections
raised and the server restarted, only while nobody else is connected. On a private
PostgreSQL cluster (tests/support/private_services.py), never the machine's own."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.private_services import PrivatePostgres, private

ROOT = Path(__file__).resolve().parents[2]


def _load_services():  # noqa: ANN202 - a module
    """scripts/services.py (not a package), registered as its dataclasses need."""
    name = "scripts_services"
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "services.py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


services = _load_services()


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    yield from private(PrivatePostgres)


@pytest.fixture
def restart(postgres: PrivatePostgres) -> Callable[[], bool]:
    """What services.py runs to restart the server (pg_ctlcluster there); counts calls."""

    def again() -> bool:
        postgres.stop()
        postgres.start()
        again.calls += 1
        return True

    again.calls = 0
    return again


def max_connections(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SHOW max_connections").fetchone()[0])


def test_max_connections_is_raised_once_and_a_second_run_finds_it_done(postgres, restart):
    url = postgres.url("postgres")
    before = max_connections(url)
    assert before < services.CONNECTIONS_WANTED  # initdb's default

    said = services.connection_room(url, restart, postgres.data)

    assert max_connections(url) == services.CONNECTIONS_WANTED
    assert said.startswith(f"max_connections {before} -> {services.CONNECTIONS_WANTED}")
    assert restart.calls == 1
    # The next run (or the one that waited on the lock) has nothing to do.
    assert services.connection_room(url, restart, postgres.data) == ""
    assert restart.calls == 1


def test_a_server_in_use_is_not_restarted_and_the_line_says_how_to_raise_it(postgres, restart):
    url = postgres.url("postgres")
    before = max_connections(url)

    with psycopg.connect(url):  # a test run in progress: a restart would cut it
        said = services.connection_room(url, restart, postgres.data)

    assert restart.calls == 0
    assert max_connections(url) == before
    assert "left alone: 1 other session(s) connected" in said
    assert "ALTER SYSTEM SET max_connections" in said
    # Nor is a server other than the one restart() restarts touched.
    elsewhere = postgres.dir / "another-cluster"
    assert services.connection_room(url, restart, elsewhere) == ""
    assert restart.calls == 0
    assert max_connections(url) == before
