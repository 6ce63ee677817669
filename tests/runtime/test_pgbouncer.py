"""Behind PgBouncer in transaction pooling (DATABASE_PGBOUNCER=1).

The runtime suites run behind a real PgBouncer with tests/support/pgbouncer.py (its
docstring has the command). These tests pin the settings and show, on a PgBouncer
started here, the one thing the runtime did that such a pooler breaks: a
``QuerySet.iterator()`` reading from a server-side cursor after its statement's
transaction ended.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.db.utils import load_backend

from durableapp.settings import database
from tests.support.pgbouncer import PgBouncer, main

needs_pgbouncer = pytest.mark.skipif(
    shutil.which("pgbouncer") is None and not os.path.exists("/usr/sbin/pgbouncer"),
    reason="needs the pgbouncer binary (apt-get install -y pgbouncer)",
)
URL = "postgres://app@pgbouncer:6432/durable"
ROOT = Path(__file__).resolve().parents[2]


# -- the setting ---------------------------------------------------------------------------
def test_behind_pgbouncer_nothing_outlives_a_transaction():
    config = database(URL, conn_max_age=600, pgbouncer=True)
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert config["OPTIONS"]["prepare_threshold"] is None  # no server-side prepared statements
    assert config["CONN_MAX_AGE"] == 600  # a client connection to PgBouncer is kept all the same


def test_reached_directly_server_side_cursors_stay():
    config = database(URL, conn_max_age=600, pgbouncer=False)
    assert not config["DISABLE_SERVER_SIDE_CURSORS"]
    assert "prepare_threshold" not in config["OPTIONS"]


@pytest.mark.parametrize(
    ("url", "pgbouncer", "names"),
    [
        ("sqlite:///db.sqlite3", True, ["DATABASE_PGBOUNCER=1", "SQLite"]),
        (URL + "?prepare_threshold=5", True, ["prepare_threshold", "DATABASE_PGBOUNCER=1"]),
        (URL + "?assume_role=owner", True, ["assume_role", "DATABASE_PGBOUNCER=1"]),
        (URL + "?pgbouncer=true", False, ["DATABASE_PGBOUNCER=1"]),
    ],
)
def test_a_setting_that_cannot_work_is_refused_by_name(url, pgbouncer, names):
    with pytest.raises(ImproperlyConfigured) as refused:
        database(url, conn_max_age=0, pgbouncer=pgbouncer)
    for name in names:
        assert name in str(refused.value)


def test_a_bad_value_of_the_variable_is_refused_by_name():
    result = subprocess.run(
        [sys.executable, "-c", "import durableapp.settings"],
        env={**os.environ, "DATABASE_PGBOUNCER": "maybe", "DATABASE_URL": URL},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "DATABASE_PGBOUNCER='maybe' is not a boolean" in result.stderr


# -- a real PgBouncer ----------------------------------------------------------------------
def _alias_through(bouncer: PgBouncer, pgbouncer: bool) -> str:
    """A database alias of this thread reaching the test database through ``bouncer``."""
    alias = f"through_pgbouncer_{int(pgbouncer)}"
    config = database(bouncer.url(connection.settings_dict["NAME"]), 0, pgbouncer)
    for key, value in connection.settings_dict.items():
        config.setdefault(key, value)
    connections[alias] = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)
    return alias


def _forget(alias: str) -> None:
    connections[alias].close()
    del connections[alias]


def _iterate_with_a_transaction_in_between(bouncer: PgBouncer, pgbouncer: bool) -> int:
    """Read 250 rows 100 at a time; after the first chunk another client opens a
    transaction, which PgBouncer (LIFO) gives the server connection just used."""
    alias = _alias_through(bouncer, pgbouncer)
    other = psycopg.connect(bouncer.url(connection.settings_dict["NAME"]), autocommit=True)
    try:
        rows = Group.objects.using(alias).order_by("pk").iterator(chunk_size=100)
        seen = [next(rows)]
        other.execute("BEGIN")
        other.execute("SELECT 1")
        seen += list(rows)
        return len(seen)
    finally:
        other.close()
        _forget(alias)


@pytest.fixture
def bouncer():
    # Two server connections: the other client's transaction holds one, so a later
    # statement of the iterator runs on the other one.
    settings = connection.settings_dict
    with PgBouncer(
        upstream_host=settings.get("HOST") or "127.0.0.1",
        upstream_port=int(settings.get("PORT") or 5432),
        user=settings.get("USER") or "postgres",
        pool_size=2,
    ) as running:
        yield running


@pytest.mark.postgres
@needs_pgbouncer
@pytest.mark.django_db(transaction=True)
def test_an_iterator_survives_another_transaction_between_its_fetches(bouncer):
    Group.objects.bulk_create(Group(name=f"g{i}") for i in range(250))
    assert _iterate_with_a_transaction_in_between(bouncer, pgbouncer=True) == 250


@pytest.mark.postgres
@needs_pgbouncer
@pytest.mark.django_db(transaction=True)
def test_without_the_setting_the_server_side_cursor_is_lost(bouncer):
    """Why DATABASE_PGBOUNCER=1 exists: the WITH HOLD cursor of the first fetch lives in
    a server session the next fetch does not get."""
    Group.objects.bulk_create(Group(name=f"g{i}") for i in range(250))
    with pytest.raises(Exception, match="cursor .* does not exist"):
        _iterate_with_a_transaction_in_between(bouncer, pgbouncer=False)


@pytest.mark.postgres
@needs_pgbouncer
def test_run_gives_the_command_the_url_and_the_setting(capfd):
    settings = connection.settings_dict
    code = main(
        [
            "run",
            "--database",
            f"pgb_run_{os.getpid()}",
            "--postgres-host",
            settings.get("HOST") or "127.0.0.1",
            "--postgres-port",
            str(settings.get("PORT") or 5432),
            "--",
            sys.executable,
            "-c",
            "import os; print(os.environ['DATABASE_URL'], os.environ['DATABASE_PGBOUNCER'])",
        ]
    )
    out = capfd.readouterr().out
    assert code == 0
    port = re.search(r"pgbouncer: listening on 127\.0\.0\.1:(\d+)", out)[1]
    assert f"@127.0.0.1:{port}/pgb_run_{os.getpid()} 1\n" in out


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_compiled_hot_paths_leave_no_prepared_statement():
    """workflows/compiled.py runs the same statements on every step; psycopg would prepare
    them server-side after a few runs if asked to, which PgBouncer 1.18 in transaction
    pooling cannot carry. Run each more often than psycopg's threshold (5): none is left.
    (One transaction: behind PgBouncer every statement here is on one server connection.)"""
    from django.utils import timezone

    from workflows.episodes import lock_instance
    from workflows.models import HistoryEvent, Instance
    from workflows.row_writes import insert_rows

    instance = Instance.objects.create(instance_id="prep", name="x", execution_id="e1")
    columns = ["instance", "execution_id", "seq", "kind", "payload", "timestamp"]
    for seq in range(8):
        assert lock_instance(instance.pk).pk == instance.pk
        insert_rows(HistoryEvent, columns, [(instance.pk, "e1", seq, "k", {}, timezone.now())])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
