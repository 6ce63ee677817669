"""Fixtures of tests/samples and tests/recovery (imported by both conftest modules)."""

from __future__ import annotations

import pytest

from tests.samples import flows  # noqa: F401 - registers the test orchestrators
from tests.samples.support import InProcessWorkers, ProcessWorkers, assert_all_finished_replay
from tests.support.workers import uses_real_broker
from workflows.engine.testing import WorkflowTestRunner
from workflows.samples.services import MemoryLedger, use_ledger

PROCESS_WORKERS = ProcessWorkers()


@pytest.fixture
def ledger():
    """The fake services in memory, for tests without a database."""
    with use_ledger(MemoryLedger()) as memory:
        yield memory


@pytest.fixture
def runner(ledger):
    """The in-memory test runner (fake clock) over the registered samples."""
    return WorkflowTestRunner()


@pytest.fixture
def fast_runtime(fast_sweeps, transactional_db):
    """Timers and lost messages are picked up within fractions of a second (no message left
    in the queues by an earlier test leaks in: tests/conftest.py empties them first)."""
    return fast_sweeps


@pytest.fixture(scope="package")
def process_workers(django_db_setup):
    """Worker processes on the test database, started by the first test that needs them.

    One pool per test package (tests/samples, tests/recovery), stopped when the package
    ends: left running, its workers would take messages meant for later packages' tests.
    The pool itself is a module-level singleton shared by both registrations.
    """
    yield PROCESS_WORKERS
    PROCESS_WORKERS.stop()


@pytest.fixture
def workers(request, fast_runtime):
    """Running workers: real processes on a real broker, else the in-process ``worker``."""
    if uses_real_broker():
        pool = request.getfixturevalue("process_workers")
        if not pool.running:
            pool.start()
        return pool
    return InProcessWorkers(request.getfixturevalue("worker"))


@pytest.fixture
def no_workers(request, fast_runtime):
    """Nothing consumes the queues: the test drives instances by hand (support.drive)."""
    if uses_real_broker():
        request.getfixturevalue("process_workers").stop()


@pytest.fixture
def local_worker(request, no_workers):
    """Only the in-process worker, on any broker: for signals, log records and code
    changed in this process, which worker processes would not see."""
    return request.getfixturevalue("worker")


@pytest.fixture
def client(transactional_db):
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture(autouse=True)
def _finished_instances_replay(request):
    """After each database test, every finished instance replays to the same outcome."""
    if "transactional_db" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so torn down after the check
    yield
    assert_all_finished_replay()
