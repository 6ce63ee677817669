"""What DurableClient returns: snapshots of instances, pages of them, event outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .models import Instance
from .statuses import TERMINAL


@dataclass(frozen=True)
class InstanceState:
    """A snapshot of one instance as clients see it."""

    instance_id: str
    name: str
    version: int
    status: str
    execution_id: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    input: Any
    output: Any
    failure: dict[str, Any] | None
    custom_status: Any
    business_key: str
    needs_attention: bool
    attention_reason: str
    parent_id: str | None
    history_length: int
    history: list[dict[str, Any]] | None = None
    redacted: bool = False  # payloads removed by ``redacted()``: "hidden", not "null"
    # ctx.upsert_search_attributes: for finding instances, so never redacted (keep
    # secrets out of them, as out of business keys).
    search_attributes: dict[str, Any] = field(default_factory=dict)
    # A list item (client.query): input, output and the payloads not asked for were not
    # read; None here is "not read", not null (get_status reads them).
    summary: bool = False

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class Page:
    items: list[InstanceState]
    next_cursor: str | None = None
    previous_cursor: str | None = None  # the page before (newer, for newest first)
    total: int | None = None  # with count=True: how many match, at most listing.COUNT_CAP
    total_exact: bool = True  # False: there are more than ``total`` ("10,000+")


@dataclass(frozen=True)
class EventResult:
    outcome: str  # delivered | duplicate
    event_id: str | None
    first_outcome: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def state_of(instance: Instance, history: list[dict[str, Any]] | None = None) -> InstanceState:
    """The client's snapshot of an Instance row (with ``history`` rows when given).

    A row read with only() (a list summary) gives None for each payload column it left
    out, without reading it now (which would decrypt or fetch it row by row).
    """
    skipped = instance.get_deferred_fields()

    def payload(column: str, empty: Any = None) -> Any:
        return empty if column in skipped else getattr(instance, column)

    return InstanceState(
        instance_id=instance.instance_id,
        name=instance.name,
        version=instance.version,
        status=instance.status,
        execution_id=instance.execution_id,
        created_at=instance.created_at,
        updated_at=instance.updated_at,
        completed_at=instance.completed_at,
        input=payload("input"),
        output=payload("output"),
        failure=payload("failure"),
        custom_status=payload("custom_status"),
        business_key=instance.business_key,
        needs_attention=instance.needs_attention,
        attention_reason=payload("attention_reason", ""),
        parent_id=instance.parent.instance_id if instance.parent_id else None,
        history_length=instance.history_length,
        history=history,
        search_attributes=instance.search_attributes or {},
        summary=bool(skipped),
    )
