"""Fixtures of the observability tests: a client, clean queues, collected log records."""

from __future__ import annotations

import logging

import pytest

from tests.support import versioning_workflows  # noqa: F401 - registers the test workflows
from tests.support.brokers import purge_queues
from workflows.conf import conf


@pytest.fixture(autouse=True)
def _empty_queues(settings):
    """Messages left by an earlier test must not leak in."""
    purge_queues(conf.TASK_HUB)


@pytest.fixture
def durable_client(transactional_db):
    from workflows.client import DurableClient

    return DurableClient()


class Collect(logging.Handler):
    """Keeps every record it is given (a real handler on the real loggers)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records():
    """Records of the ``workflows`` loggers (they do not propagate to the root logger)."""
    handler = Collect()
    logger = logging.getLogger("workflows")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
