"""DurableClient's entities (docs/architecture.md, "Entities").

A mixin of :class:`workflows.client.DurableClient`. Who may: ``entities.signal_entity``
to signal; ``workflows.view_instance`` to read (the state and inputs are payloads:
``view_payloads``); ``workflows.operate_instance`` to purge. ``by=None``/``user=None`` and
text actors ("cli") are code in this process.

Example::

    client = DurableClient()
    client.signal_entity(("running_total", "files"), "add", 12)
    client.get_entity(("running_total", "files")).state  # 12, once applied
"""

from __future__ import annotations

from typing import Any

from ..access import may_operate, may_see_every_instance, may_see_payloads
from ..engine.errors import NotAllowed
from ..engine.registry import Registry
from . import service
from .batches import BatchReport, run_entity
from .models import SIGNAL_ENTITY
from .service import EntityLocked, EntityNotFound
from .states import EntityState, redacted

__all__ = ["EntityLocked", "EntityNotFound", "EntityOperations", "EntityState", "may_signal"]


def _trusted(actor: Any) -> bool:
    return actor is None or isinstance(actor, str)


def may_signal(user: Any) -> bool:
    """``entities.signal_entity`` (code and text actors may)."""
    if _trusted(user):
        return True
    return bool(
        getattr(user, "is_authenticated", False) and user.has_perm(f"entities.{SIGNAL_ENTITY}")
    )


def _check_read(user: Any) -> None:
    if not _trusted(user) and not may_see_every_instance(user):
        raise NotAllowed("Reading entities needs the permission workflows.view_instance.")


def _shown(entity: EntityState, user: Any) -> EntityState:
    return entity if _trusted(user) or may_see_payloads(user) else redacted(entity)


class EntityOperations:
    """Entities: signalled, read, listed and purged (a DurableClient mixin)."""

    hub: str
    registry: Registry

    def signal_entity(
        self,
        entity: Any,
        operation: str,
        input: Any = None,
        *,
        signal_id: str | None = None,
        by: Any = None,
    ) -> bool:
        """Queue a one-way operation for the entity (applied soon, in order).

        ``signal_id`` de-duplicates: the same id again queues nothing and returns False.
        An unknown entity or operation is InvalidInput (HTTP 400).
        """
        if not may_signal(by):
            raise NotAllowed(
                f"Signalling entities needs the permission entities.{SIGNAL_ENTITY}; "
                "ask an administrator."
            )
        return service.signal(self.hub, self.registry, entity, operation, input, signal_id)

    def get_entity(self, entity: Any, user: Any = None) -> EntityState:
        """State, version, lock holder, queued and recent operations (EntityNotFound: 404)."""
        _check_read(user)
        return _shown(service.get(self.hub, entity), user)

    def list_entities(
        self, name: str | None = None, key: str | None = None, limit: int = 100, user: Any = None
    ) -> list[EntityState]:
        """Entities of the hub by name and key (``key``: a part of it)."""
        _check_read(user)
        return [_shown(e, user) for e in service.listing(self.hub, name, key, limit)]

    def purge_entity(self, entity: Any, by: Any = None) -> None:
        """Delete an entity with its state and queue (refused while a running
        orchestration holds its lock: EntityLocked, HTTP 409)."""
        if not _trusted(by) and not may_operate(by):
            raise NotAllowed("Purging entities needs the permission workflows.operate_instance.")
        service.purge(self.hub, entity)

    def run_entity_batch(self, entity_pk: int) -> BatchReport:
        """Apply the entity's next batch now (the worker's actor does this)."""
        return run_entity(entity_pk, self.hub, self.registry)
