"""What the client returns about entities: plain snapshots, redacted by permission."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

REDACTED = "(hidden: needs view_payloads)"


@dataclass(frozen=True)
class QueuedOperation:
    operation: str
    kind: str
    sender: str
    created_at: datetime
    input: Any = None


@dataclass(frozen=True)
class AppliedOperation:
    operation: str
    kind: str
    sender: str
    ok: bool
    applied_at: datetime
    error: str = ""


@dataclass(frozen=True)
class EntityState:
    """One entity: ``state`` (None without ``view_payloads`` or when it has none),
    whether it ``exists``, ``lock_holder`` (an instance id or ""), queued operations
    (the first 50 and their count) and recent applied ones (newest first)."""

    entity: str
    name: str
    key: str
    exists: bool
    state: Any
    version: int
    lock_holder: str
    queued_count: int
    operations_applied: int
    updated_at: datetime | None
    last_operation_at: datetime | None
    queued: tuple[QueuedOperation, ...] = ()
    recent: tuple[AppliedOperation, ...] = ()
    payloads_visible: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "name": self.name,
            "key": self.key,
            "exists": self.exists,
            "state": self.state,
            "version": self.version,
            "lock_holder": self.lock_holder or None,
            "queued_count": self.queued_count,
            "operations_applied": self.operations_applied,
            "updated_at": _iso(self.updated_at),
            "last_operation_at": _iso(self.last_operation_at),
            "queued": [
                {
                    "operation": q.operation,
                    "kind": q.kind,
                    "sender": q.sender,
                    "created_at": _iso(q.created_at),
                    "input": q.input,
                }
                for q in self.queued
            ],
            "recent": [
                {
                    "operation": r.operation,
                    "kind": r.kind,
                    "sender": r.sender,
                    "ok": r.ok,
                    "error": r.error,
                    "applied_at": _iso(r.applied_at),
                }
                for r in self.recent
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def redacted(entity: EntityState) -> EntityState:
    """Without ``view_payloads``: no state, no inputs, no error text."""
    return replace(
        entity,
        state=None,
        queued=tuple(replace(q, input=None) for q in entity.queued),
        recent=tuple(replace(r, error="failed" if not r.ok else "") for r in entity.recent),
        payloads_visible=False,
    )
