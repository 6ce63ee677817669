"""Fixtures shared by the whole suite. tests/engine uses none of the database ones.

Imports of test workflow modules (tests.support.workflows, ...) go inside the fixtures that
need them, never at the top of this file: a test sees the registrations of the modules it
and its fixtures import, and the top of this file is imported for every test
(tests/support/registry.py).
"""

import re

import psycopg
import pytest

# Fixtures that run workers (threads in this process or `durable worker` processes): a test
# using one is an integration test (`-m integration`, the suite run again on Redis).
WORKER_FIXTURES = frozenset(
    {
        "worker",
        "worker_process_factory",
        "running_workers",
        "start_worker",
        "workers",
        "process_workers",
        "local_worker",
        "limit_workers",
    }
)


# Tests sharing a costly fixture of wider scope stay in one pytest-xdist worker (`--dist
# loadgroup`, scripts/run_tests.py), which then starts it once: those of a module with a
# module-scoped fixture (a server and a browser), and these packages, whose pool of worker
# processes (package scope) is asked for from inside another fixture.
SHARED_SETUP = {"tests/samples/": "samples", "tests/recovery/": "recovery"}


def _shared_setup(item: pytest.Item) -> str | None:
    where = item.nodeid.split("::")[0]
    for path, group in SHARED_SETUP.items():
        if where.startswith(path):
            return group
    definitions = getattr(item, "_fixtureinfo", None)
    for name in getattr(item, "fixturenames", ()):
        for fixturedef in definitions.name2fixturedefs.get(name, ()) if definitions else ():
            if fixturedef.scope == "module":
                return where
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.db import connection

    grouping = config.pluginmanager.hasplugin("xdist")
    for item in items:
        if WORKER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        group = _shared_setup(item) if grouping else None
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason=f"needs PostgreSQL (DATABASE_URL is {connection.vendor})")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    """A test's report as pytest-xdist can send it: captured output with lone surrogates
    escaped (a test of the log formatters logs one on purpose), and a traceback that
    CPython fails to lay out given in its plain form. Either stopped the whole suite with
    an INTERNALERROR."""
    try:
        report = yield
    except SystemError:
        # CPython 3.11.7 can fail to parse the source of a traceback it is shown ("AST
        # constructor recursion depth mismatch", fixed in later 3.11 releases); a failing
        # test must be reported, not stop the run with an INTERNALERROR. The plain form:
        style = item.config.option.tbstyle
        item.config.option.tbstyle = "native"
        try:
            report = pytest.TestReport.from_item_and_call(item, call)
        finally:
            item.config.option.tbstyle = style
    report.sections = [
        (title, text.encode("utf-8", "backslashreplace").decode("utf-8"))
        for title, text in report.sections
    ]
    return report


@pytest.fixture(autouse=True)
def _isolated_registry(request):
    """The registrations of the modules this test imports, and its own until it ends."""
    from tests.support.registry import isolated

    with isolated(request.node):
        yield


TRUNCATE = re.compile(
    r"^TRUNCATE\s+(?P<tables>.+?)(?:\s+RESTART IDENTITY)?(?:\s+CASCADE)?;?$", re.S
)


def deletes_for(statement: str) -> list[str]:
    """``DELETE FROM`` each table of a ``TRUNCATE`` (other statements as they are)."""
    found = TRUNCATE.match(statement.strip())
    if found is None or "RESTART IDENTITY" in statement:
        return [statement]  # a sequence reset needs the TRUNCATE
    return [f"DELETE FROM {table.strip()}" for table in found["tables"].split(",")]


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete():
    """The database is emptied after each test by DELETE, not Django's TRUNCATE.

    A TRUNCATE of the 34 tables took ~100 ms on PostgreSQL (new files for each table, and
    an exclusive lock on each, which worker processes of a package's pool, still running
    between tests, wait on or deadlock with); deleting the few rows a test leaves takes
    ~10 ms and locks rows only. Every foreign key is deferrable (Django's), so the order
    of the DELETEs does not matter within the flush's transaction. The flush still waits
    for a worker's statement rather than being cancelled as a deadlock's victim (SET
    LOCAL: only its own transaction, nothing left in a server session that PgBouncer would
    hand to another client)."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    flush = DatabaseOperations.execute_sql_flush

    def delete_flush(self, sql_list):  # noqa: ANN001, ANN202 - Django's signature
        statements = [d for statement in sql_list for d in deletes_for(statement)]
        return flush(self, ["SET LOCAL deadlock_timeout = '10s'", *statements])

    DatabaseOperations.execute_sql_flush = delete_flush
    yield
    DatabaseOperations.execute_sql_flush = flush


@pytest.fixture(autouse=True)
def _no_listener_outlives_its_test():
    """A LISTEN connection of wait_for_completion (runtime/completions.py) is closed after
    its test: a session on the test database would keep it from being dropped."""
    yield
    from workflows.runtime import completions

    if completions._listeners:
        completions.stop_listening()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases; at the end, no deadlock may have happened in them
    (tests/support/deadlocks.py); behind PgBouncer (DATABASE_PGBOUNCER=1), its idle
    server connections to them are closed before they are dropped (DROP DATABASE fails
    while any session is connected: "being accessed by other users")."""
    yield
    from django.db import connections

    from durableapp.settings import env_bool
    from tests.support.deadlocks import check_no_deadlocks

    with django_db_blocker.unblock():
        try:
            check_no_deadlocks()
        finally:
            if env_bool("DATABASE_PGBOUNCER", False):
                for alias in connections:
                    if connections[alias].vendor == "postgresql":
                        close_pgbouncer_sessions(connections[alias].settings_dict)


def close_pgbouncer_sessions(db: dict) -> None:
    """KILL ``db``'s database on the PgBouncer admin console: its client and server
    connections close at once (the simple query protocol: the console knows no other)."""
    admin = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 6432,
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        dbname="pgbouncer",
        autocommit=True,
    )
    try:
        result = admin.pgconn.exec_(f"KILL {db['NAME']}".encode())
        if result.error_message:
            raise RuntimeError(f"pgbouncer KILL {db['NAME']}: {result.error_message.decode()}")
    finally:
        admin.close()


@pytest.fixture
def worker(transactional_db):
    """An in-process worker (threads + sweeper) on the configured broker."""
    import dramatiq

    from tests.support import workflows  # noqa: F401 - registers the test workflows
    from workflows.runtime.cache import sticky_cache
    from workflows.runtime.worker import Worker

    broker = dramatiq.get_broker()
    if hasattr(broker, "flush_all"):
        broker.flush_all()
    sticky_cache().clear()
    running = Worker(threads=4)
    running.start()
    yield running
    running.stop()
    sticky_cache().clear()


@pytest.fixture
def worker_process_factory(transactional_db):
    """Start real `durable worker` processes; all are stopped at the end of the test."""
    from tests.support import workflows  # noqa: F401
    from tests.support.workers import WorkerProcess

    started: list[WorkerProcess] = []

    def start(threads: int = 4, **env: str) -> WorkerProcess:
        process = WorkerProcess(threads=threads, env=env).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(autouse=True)
def _empty_queues(request):
    """A test using the database or workers starts with empty queues of its task hubs:
    messages left by an earlier test (a killed worker's, those of a test that drove its
    instances by hand) must not leak in."""
    from tests.support.brokers import purge_test_queues

    names = set(getattr(request.node, "fixturenames", ()))
    if (
        names & {"db", "transactional_db"}
        or request.node.get_closest_marker("django_db")
        or request.node.get_closest_marker("integration")
    ):
        purge_test_queues()


@pytest.fixture
def durable_client(transactional_db):
    """A client whose instances worker threads and processes see (committed at once)."""
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def fast_sweeps(settings):
    """Sweeps and re-sends as often as the worker processes of the tests do them."""
    from tests.support.workers import FAST_SWEEPS

    for name, value in FAST_SWEEPS.items():
        setattr(settings, name, float(value))
    return settings


@pytest.fixture
def real_broker():
    from tests.support.workers import uses_real_broker

    if not uses_real_broker():
        pytest.skip("needs a real broker and worker processes (DURABLE_BROKER_URL=amqp/redis)")
