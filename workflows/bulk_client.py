"""DurableClient's bulk operations: one operator action over many instances or failed
compensations (docs/architecture.md, "Bulk operations").

A mixin of :class:`workflows.client.DurableClient`, kept in its own module so client.py
stays readable; callers use ``DurableClient().start_bulk(...)`` like any client method.
Each target is changed by the client's own single action (``terminate``, ``rewind``,
``resolve_compensation``, ...), called by a worker chunk by chunk (``run_bulk_chunk``).

Who may: ``workflows.operate_instance`` for every call made for a user (raise_event also
needs ``workflows.raise_event``); None and text actors ("cli") are code in this process.
The creator's permission is checked again before each chunk: an operation whose creator
lost it is cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .access import OPERATE, may_operate
from .bulk import chunks, service
from .bulk.actions import (
    ACTIONS,
    COMPENSATIONS,
    INSTANCES,
    BulkAction,
    BulkOperationNotFound,
    action_of,
    check_filter,
    check_parameters,
    check_reason,
    check_request,
)
from .bulk.chunks import ChunkResult
from .bulk.service import BulkPreview
from .bulk.states import BulkOutcome, BulkState, describe, state_of
from .engine.errors import InvalidInput, InvalidState, NotAllowed
from .models import BulkItem, BulkItemStatus, BulkOperation, BulkStatus
from .rules import check_cursor, check_text
from .statuses import EventOutcome

__all__ = [
    "ACTIONS",
    "COMPENSATIONS",
    "INSTANCES",
    "BulkAction",
    "BulkItemStatus",
    "BulkOperationNotFound",
    "BulkOperations",
    "BulkOutcome",
    "BulkPage",
    "BulkPreview",
    "BulkState",
    "BulkStatus",
    "ChunkResult",
    "OutcomePage",
    "action_of",
    "check_allowed",
    "describe",
]

RAISE_EVENT = "raise_event"
SINGLE = ("terminate", "suspend", "resume", "rewind", "retry_episode")


@dataclass(frozen=True)
class BulkPage:
    items: list[BulkState]
    next_cursor: str | None = None


@dataclass(frozen=True)
class OutcomePage:
    items: list[BulkOutcome]
    next_cursor: str | None = None


def _may(user: Any, codename: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.has_perm(f"workflows.{codename}"))


def check_allowed(user: Any, action: BulkAction | None = None) -> None:
    """NotAllowed unless ``user`` may run (or read) bulk operations, and ``action``.

    Example::

        check_allowed(request.user, ACTIONS["raise_event"])  # NotAllowed without the perms
    """
    if user is None or isinstance(user, str):
        return  # code in this process, or the command line
    if not may_operate(user):
        raise NotAllowed(
            f"Bulk operations need the permission workflows.{OPERATE}; ask an administrator."
        )
    if action is not None and action.permission == RAISE_EVENT and not _may(user, RAISE_EVENT):
        raise NotAllowed("A bulk raise_event needs the permission workflows.raise_event too.")


def _refusal(operation: BulkOperation) -> str | None:
    """Why the operation must stop before its next chunk: its creator lost the permission."""
    user = operation.created_by
    if user is None:
        return None
    try:
        check_allowed(user, ACTIONS[operation.action])
    except NotAllowed as exc:
        return f"Stopped: {operation.actor} may no longer do this. {exc}"
    return None


def _limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
        raise InvalidInput("limit must be an integer from 1 to 500.")
    return limit


class BulkOperations:
    """The bulk methods of DurableClient (which provides ``hub`` and the single actions)."""

    hub: str

    # -- reviewing and starting ------------------------------------------------------------
    def preview_bulk(
        self,
        action: str,
        *,
        filter: dict[str, Any] | None = None,
        instance_ids: list[str] | None = None,
        compensation_ids: list[int] | None = None,
        user: Any = None,
    ) -> BulkPreview:
        """What an operation would select now, changing nothing (the API's dry run).

        Example::

            client.preview_bulk("rewind", filter={"status": "failed"}).matched  # -> 42
        """
        request = check_request(action, filter, instance_ids, compensation_ids)
        check_allowed(user, request.action)
        return service.preview(self.hub, request)

    def count_bulk_targets(self, target: str, filter: dict[str, Any], *, user: Any = None) -> int:
        """How many instances (``target="instances"``) or failed compensations
        (``"compensations"``) a bulk filter matches now: the console's "select all N".

        Example::

            client.count_bulk_targets("instances", {"status": ["failed"]}, user=request.user)
        """
        check_allowed(user)
        kinds = {a.target: a for a in reversed(ACTIONS.values())}
        if target not in kinds:
            raise InvalidInput(f"Unknown bulk target {target!r}; use instances or compensations.")
        return service.count(self.hub, target, check_filter(kinds[target], filter))

    def start_bulk(
        self,
        action: str,
        *,
        filter: dict[str, Any] | None = None,
        instance_ids: list[str] | None = None,
        compensation_ids: list[int] | None = None,
        reason: str,
        by: Any = None,
        event_name: str | None = None,
        event_data: Any = None,
        expected_count: int | None = None,
        chunk_size: int | None = None,
    ) -> BulkState:
        """Record a bulk operation over the filter's (or the listed) targets, fixed now,
        and let workers carry it out; returns at once.

        ``reason`` is required (the shared note of compensation decisions); it goes into
        every changed instance's audit entry. ``expected_count``: refuse (InvalidState)
        unless the selection still matches that many. ``chunk_size``: targets per
        transaction (default 100).

        Example::

            op = client.start_bulk("terminate", filter={"name": "order", "status": ["running"]},
                                   reason="INC-42: bad deploy", by=request.user)
            client.wait_for_bulk(op.id).done  # -> how many were terminated
        """
        request = check_request(action, filter, instance_ids, compensation_ids)
        check_allowed(by, request.action)
        note = check_reason(request.action, reason)
        parameters = check_parameters(request.action, event_name, event_data)
        if expected_count is not None and (
            isinstance(expected_count, bool) or not isinstance(expected_count, int)
        ):
            raise InvalidInput("expected_count must be a whole number.")
        operation = service.create(
            self.hub,
            request,
            reason=note,
            by=by,
            parameters=parameters,
            chunk_size=chunk_size,
            expected=expected_count,
        )
        return state_of(operation)

    # -- reading -----------------------------------------------------------------------------
    def bulk_operation(self, operation_id: int, *, user: Any = None) -> BulkState:
        """One operation: what, who, why, status and counts.

        Example::

            state = client.bulk_operation(17, user=request.user)
            state.done, state.skipped, state.pending, state.is_finished
        """
        check_allowed(user)
        return state_of(service.get(self.hub, operation_id))

    def bulk_operations(
        self, *, limit: int = 50, cursor: str | None = None, user: Any = None
    ) -> BulkPage:
        """Operations of this hub, newest first, ``limit`` per page.

        Example::

            page = client.bulk_operations(limit=20)
            older = client.bulk_operations(limit=20, cursor=page.next_cursor)
        """
        check_allowed(user)
        before = check_cursor(cursor) if cursor else None
        found, next_id = service.recent(self.hub, before, _limit(limit))
        return BulkPage(found, None if next_id is None else str(next_id))

    def bulk_outcomes(
        self,
        operation_id: int,
        *,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        user: Any = None,
    ) -> OutcomePage:
        """Per-target outcomes in processing order: done, skipped or failed with the
        reason, cancelled, or still pending; ``status`` keeps one kind.

        Example::

            for outcome in client.bulk_outcomes(17, status="skipped").items:
                print(outcome.target, outcome.reason)
        """
        check_allowed(user)
        operation = service.get(self.hub, operation_id)
        if status is not None and status not in BulkItemStatus.values:
            raise InvalidInput(
                f"Unknown outcome status {status!r}; use one of {', '.join(BulkItemStatus)}."
            )
        after = check_cursor(cursor) if cursor else 0
        found, next_id = service.outcomes(operation, status, after, _limit(limit))
        return OutcomePage(found, None if next_id is None else str(next_id))

    def wait_for_bulk(
        self,
        operation_id: int,
        timeout: float = 300.0,
        poll: float = 0.2,
        progress: Callable[[BulkState], None] | None = None,
    ) -> BulkState:
        """Poll until the operation finished; ``progress`` hears each change of counts.
        TimeoutError after ``timeout`` seconds (the operation goes on).

        Example::

            client.wait_for_bulk(op.id, progress=lambda s: print(s.processed, s.matched))
        """
        deadline = time.monotonic() + timeout
        seen = None
        while True:
            state = self.bulk_operation(operation_id)
            if progress is not None and (state.processed, state.status) != seen:
                seen = (state.processed, state.status)
                progress(state)
            if state.is_finished:
                return state
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Bulk operation {operation_id} is still running after {timeout} s "
                    f"({state.processed} of {state.matched} done)."
                )
            time.sleep(poll)

    # -- changing ------------------------------------------------------------------------
    def cancel_bulk(self, operation_id: int, *, by: Any = None, reason: str = "") -> BulkState:
        """Stop a running operation: targets not reached yet are cancelled; a chunk in
        progress finishes first. InvalidState once it finished.

        Example::

            client.cancel_bulk(17, by=request.user, reason="wrong filter").cancelled
        """
        check_allowed(by)
        note = check_text("" if reason is None else reason, "reason", 1000)
        return state_of(service.cancel(self.hub, operation_id, by, note))

    def run_bulk_chunk(self, operation_id: int) -> ChunkResult:
        """Carry out the operation's next chunk (what a worker's bulk message does).

        Example::

            while client.run_bulk_chunk(op.id).more:  # tests and scripts without workers
                pass
        """
        return chunks.run_chunk(operation_id, self._apply_bulk, _refusal)

    def _apply_bulk(self, operation: BulkOperation, item: BulkItem) -> None:
        """One target, by the client's single action (its checks, locks and audit)."""
        client: Any = self
        if operation.task_hub != self.hub:
            client = type(self)(hub=operation.task_hub)  # type: ignore[call-arg]
        by = operation.created_by or operation.actor
        name, reason, target = operation.action, operation.reason, item.target
        if name in SINGLE:
            getattr(client, name)(target, reason, by=by)
        elif name == "restart":
            client.restart(target, by=by, reason=reason)
        elif name == "purge":
            client.purge(target, by=by)
        elif name == RAISE_EVENT:
            event = operation.parameters
            result = client.raise_event(
                target,
                event["event_name"],
                event.get("event_data"),
                event_id=f"bulk-{operation.pk}",  # a repeat never delivers twice
                sender=operation.actor,
            )
            if result.outcome == EventOutcome.DUPLICATE:
                raise InvalidState(f"Instance {target!r} already received this event.")
        else:
            decision = name.removeprefix("compensation_")
            getattr(client, f"{decision}_compensation")(int(target), by=by, note=reason)
