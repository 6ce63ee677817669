"""Snapshots of bulk operations and their outcomes, as DurableClient returns them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..models import BulkOperation, BulkStatus
from .actions import ACTIONS


def actor_of(by: Any) -> str:
    """Who ``by`` is, as the audit log names them: a user name, "cli", or "system"."""
    return getattr(by, "username", None) or (str(by) if by is not None else "system")


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkState:
    """A snapshot of one operation: what, who, why, and how far."""

    id: int
    action: str
    label: str
    target: str  # "instances" or "compensations"
    status: str
    filter: dict[str, Any] | None
    parameters: dict[str, Any]
    reason: str
    actor: str
    matched: int
    done: int
    skipped: int
    failed: int
    cancelled: int
    chunk_size: int
    chunks: int
    longest_chunk_ms: int
    cancelled_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def processed(self) -> int:
        return self.done + self.skipped + self.failed + self.cancelled

    @property
    def pending(self) -> int:
        return self.matched - self.processed

    @property
    def percent(self) -> int:
        return 100 if not self.matched else int(self.processed * 100 / self.matched)

    @property
    def is_finished(self) -> bool:
        return self.status != BulkStatus.RUNNING


def state_of(operation: BulkOperation) -> BulkState:
    action = ACTIONS[operation.action]
    return BulkState(
        id=operation.pk,
        action=operation.action,
        label=action.label,
        target=action.target,
        status=operation.status,
        filter=operation.filter,
        parameters=operation.parameters,
        reason=operation.reason,
        actor=operation.actor,
        matched=operation.matched,
        done=operation.done,
        skipped=operation.skipped,
        failed=operation.failed,
        cancelled=operation.cancelled,
        chunk_size=operation.chunk_size,
        chunks=operation.chunks,
        longest_chunk_ms=operation.longest_chunk_ms,
        cancelled_by=operation.cancelled_by,
        created_at=operation.created_at,
        updated_at=operation.updated_at,
        finished_at=operation.finished_at,
    )


@dataclass(frozen=True)
class BulkOutcome:
    """One target's outcome: done, skipped or failed with the reason, cancelled, pending."""

    id: int  # the cursor of outcome pages
    target: str
    instance_id: str
    status: str
    reason: str
    finished_at: datetime | None


def describe(spec: dict[str, Any] | None) -> str:
    """A filter in words, for pages and the CLI: ``status failed, name order``."""
    if spec is None:
        return "listed ids"
    parts = []
    for key, value in spec.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        parts.append(f"{key.replace('_', ' ')} {shown}")
    return "; ".join(parts) or "everything"
