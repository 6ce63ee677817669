"""Fixtures of the limit tests: worker processes that know the limited test activities
(tests/support/limit_workflows.py). Empty queues, fast sweeps:
tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.support import limit_workflows  # noqa: F401 - registers the limited activities

MODULES = "tests.support.workflows,tests.support.limit_workflows"


@pytest.fixture
def client(db):
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def limiter_log(transactional_db):
    """``windows(activity)``: each window of recent starts the limiter saved, in order."""
    with limit_workflows.limiter_windows() as windows:
        yield windows


@pytest.fixture
def limit_workers(real_broker, worker_process_factory):
    """Start `durable worker` processes that import the limited test activities."""

    def start(threads: int = 4, **env: str):  # noqa: ANN202 - a WorkerProcess
        return worker_process_factory(threads=threads, DURABLE_WORKFLOW_MODULES=MODULES, **env)

    return start
