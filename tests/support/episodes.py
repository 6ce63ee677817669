"""Running an episode by hand, as a wake-up would (without claiming its first activity)."""

from __future__ import annotations

from workflows import episodes
from workflows.engine.registry import Registry


def run_episode(instance_pk: int, registry: Registry | None = None, hub: str | None = None) -> bool:
    """Apply the instance's pending inbox messages; True when an episode ran."""
    return bool(episodes.run_episode(instance_pk, registry, hub, claim=False)[0])
