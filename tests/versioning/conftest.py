"""Fixtures of the versioning tests: simulated deploys (the rest: tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support import versioning_workflows


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
