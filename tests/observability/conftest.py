"""Fixtures of the observability tests: a client and clean queues."""

from __future__ import annotations

import pytest

from tests.support import versioning_workflows  # noqa: F401 - registers the test workflows
from tests.support.brokers import purge_queues


@pytest.fixture(autouse=True)
def _empty_queues(settings):
    """Messages left by an earlier test must not leak in."""
    purge_queues(settings.DURABLE_TASK_HUB)


@pytest.fixture
def durable_client(transactional_db):
    from workflows.client import DurableClient

    return DurableClient()
