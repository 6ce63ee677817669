"""Runtime fixtures: a client, and workers fitting the broker (empty queues: tests/conftest.py).

On the embedded broker (SQLite default) the worker runs in this process; on a real
broker (RabbitMQ, Redis) the scenarios run against real `durable worker` processes.
"""

from __future__ import annotations

import pytest

from tests.support.reliability_workflows import MODULES as RELIABILITY_MODULES
from tests.support.workers import uses_real_broker


@pytest.fixture
def client(db):
    """A client of this task hub. Tests without workers run in one rolled-back transaction
    (no message is sent then); worker fixtures make the database transactional."""
    from tests.support import workflows  # noqa: F401 - registers the test workflows
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def running_workers(request, transactional_db, fast_sweeps):
    """Workers for the scenario: one real process on a real broker, else in-process."""
    if uses_real_broker():
        return [request.getfixturevalue("worker_process_factory")()]
    request.getfixturevalue("worker")
    return []


class InProcessWorker:
    """The embedded worker with the WorkerProcess interface (start/stop, no kill)."""

    def __init__(self, threads: int) -> None:
        from workflows.runtime.worker import Worker

        self.worker = Worker(threads=threads)
        self.running = False

    def start(self) -> InProcessWorker:
        self.worker.start()
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.worker.stop()
            self.running = False


@pytest.fixture
def start_worker(request, transactional_db, fast_sweeps):
    """Start a worker now (a process on a real broker, else in-process); stopped at the end.

    Keyword arguments are environment variables of the process, e.g.
    ``start_worker(DURABLE_ACTIVITY_LEASE_SECONDS="2")``; in-process they become settings.
    """
    from tests.support import workflows  # noqa: F401
    from workflows.runtime.cache import sticky_cache

    started: list[InProcessWorker] = []
    factory = request.getfixturevalue("worker_process_factory") if uses_real_broker() else None

    def start(threads: int = 4, **env: str):  # noqa: ANN202 - WorkerProcess | InProcessWorker
        if factory is not None:
            return factory(threads=threads, **env)
        for name, value in env.items():
            setattr(fast_sweeps, name, float(value))
        sticky_cache().clear()  # a new worker starts with an empty cache
        worker = InProcessWorker(threads).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def reliability_worker(request, transactional_db, fast_sweeps):
    """A worker that knows tests/support/reliability_workflows.py: a `durable worker`
    process on a real broker, the in-process worker on the embedded one."""

    def start(**env: str):  # noqa: ANN202 - WorkerProcess or the in-process worker
        if uses_real_broker():
            factory = request.getfixturevalue("worker_process_factory")
            return factory(DURABLE_WORKFLOW_MODULES=RELIABILITY_MODULES, **env)
        for name, value in env.items():
            setattr(fast_sweeps, name, float(value))
        return request.getfixturevalue("worker")

    return start
