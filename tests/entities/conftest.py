"""Fixtures of the entity tests: a client, and entity rows read back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.entities import workflows  # noqa: F401 - registers t_log, t_call, t_hold


@pytest.fixture
def client(db):
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def entity_row() -> Callable[..., Any]:
    """``entity_row("t_log", "a")``: the Entity row (None when there is none)."""
    from workflows.entities.models import Entity

    def read(name: str, key: str) -> Any:
        return Entity.objects.filter(name=name, key=key).first()

    return read
