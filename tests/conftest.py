"""Fixtures shared by the whole suite. tests/engine uses none of the database ones."""

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason=f"needs PostgreSQL (DATABASE_URL is {connection.vendor})")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _flush_outlasts_worker_statements():
    """Worker processes (a package's pool) keep running between tests. The TRUNCATE that
    empties the database after a test can deadlock with a worker's statement that reads
    two tables; PostgreSQL then cancels whichever detects it first. This process looks
    later, so the worker's statement is cancelled (its work is retried) and the flush
    goes on."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    def patient(sender, connection, **kwargs):  # noqa: ANN001, ANN003 - a signal receiver
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET deadlock_timeout = '10s'")

    connection_created.connect(patient, weak=False, dispatch_uid="tests.patient_flush")
    if connection.vendor == "postgresql" and connection.connection is not None:
        patient(None, connection)
    yield
    connection_created.disconnect(dispatch_uid="tests.patient_flush")


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
