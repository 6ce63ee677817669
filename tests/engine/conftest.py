"""Shared fixtures of the engine tests: fresh registries and in-memory runners.

Every test gets its own ``Registry()``: nothing here touches the global default
registry, the database or a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workflows.engine import ActivityContext, Registry, default_registry
from workflows.engine.testing import WorkflowTestRunner

from .builders import T0, Flaky


def add_standard_activities(registry: Registry) -> Registry:
    """A handful of small deterministic activities most tests use."""

    @registry.activity(name="echo")
    def echo(ctx: ActivityContext, value: Any) -> Any:
        return value

    @registry.activity(name="double")
    def double(ctx: ActivityContext, value: int) -> int:
        return value * 2

    @registry.activity(name="price_line")
    def price_line(ctx: ActivityContext, line: dict[str, Any]) -> int:
        return line["qty"] * line["price"]

    @registry.activity(name="boom")
    def boom(ctx: ActivityContext, message: str) -> None:
        raise ValueError(message)

    @registry.activity(name="pair")
    def pair(ctx: ActivityContext, value: Any) -> tuple[Any, Any]:
        return (value, value)

    @registry.activity(name="flaky")
    def flaky(ctx: ActivityContext, succeed_on: int) -> str:
        """Fails with a transient error until attempt ``succeed_on``."""
        if ctx.attempt < succeed_on:
            raise Flaky(f"attempt {ctx.attempt} lost the connection")
        return f"ok on attempt {ctx.attempt}"

    return registry


@pytest.fixture(autouse=True)
def default_registry_untouched() -> Iterator[None]:
    """Engine tests use their own registries; the global default one stays as it was."""
    before = (default_registry.orchestrator_names(), default_registry.activity_names())
    yield
    after = (default_registry.orchestrator_names(), default_registry.activity_names())
    assert after == before, "an engine test registered into the global default registry"


@pytest.fixture
def registry() -> Registry:
    """A fresh registry with the standard activities; tests add their orchestrators."""
    return add_standard_activities(Registry())


@pytest.fixture
def make_runner(registry: Registry) -> Callable[..., WorkflowTestRunner]:
    """Build a WorkflowTestRunner on the test's registry, starting at T0."""

    def make(**kwargs: Any) -> WorkflowTestRunner:
        kwargs.setdefault("registry", registry)
        kwargs.setdefault("start_time", T0)
        return WorkflowTestRunner(**kwargs)

    return make


@pytest.fixture
def runner(make_runner: Callable[..., WorkflowTestRunner]) -> WorkflowTestRunner:
    return make_runner()
