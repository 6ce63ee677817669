"""Fixtures of the versioning tests: a client, clean queues, and simulated deploys."""

from __future__ import annotations

import pytest

from tests.support import versioning_workflows
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


@pytest.fixture
def deploy():
    """Deploy a code change (a switch of DEPLOYED); switched back after the test.

    A real deploy restarts the workers, so their in-memory orchestrations are gone:
    the next episode of every instance replays its history with the new code.
    """
    from workflows.runtime.cache import sticky_cache

    def switch(**changes: bool) -> None:
        unknown = set(changes) - set(versioning_workflows.DEPLOYED)
        assert not unknown, f"no such switch: {unknown}"
        versioning_workflows.DEPLOYED.update(changes)
        sticky_cache().clear()

    yield switch
    versioning_workflows.DEPLOYED.update(receipt_patch=False, reordered=False)
