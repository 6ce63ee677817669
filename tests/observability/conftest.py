"""Fixtures of the observability tests: collected log records (the rest: tests/conftest.py)."""

from __future__ import annotations

import logging

import pytest

from tests.support import versioning_workflows  # noqa: F401 - registers the test workflows


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
