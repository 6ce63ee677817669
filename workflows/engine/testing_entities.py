"""Entities in :class:`~workflows.engine.testing.WorkflowTestRunner`: in memory, same API.

Each entity keeps its state, lock holder and queue here; a runner step applies every
operation an entity can take now as one batch (``engine/entities.run_batch``, the same
function the runtime uses), then answers callers and sends its signals.

Example::

    runner = WorkflowTestRunner()
    runner.signal_entity(("counter", "a"), "add", 2)
    runner.run_until_idle()
    assert runner.entity_state(("counter", "a")) == 2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import actions as act
from .entities import CALL, LOCK, SIGNAL, UNLOCK, EntityId, Operation, OperationOutcome, run_batch
from .executor import TERMINAL_STATUSES
from .payloads import round_trip

if TYPE_CHECKING:
    from .registry import Registry


@dataclass
class _EntityRecord:
    entity_id: EntityId
    exists: bool = False
    state: Any = None
    lock_holder: str | None = None
    queue: list[Operation] = field(default_factory=list)
    log: list[OperationOutcome] = field(default_factory=list)
    batches: int = 0


class EntityRunnerMixin:
    """The entity half of the in-memory runner (mixed into WorkflowTestRunner)."""

    registry: Registry
    _instances: dict[str, Any]

    def _init_entities(self) -> dict[type, Any]:
        self._entities: dict[EntityId, _EntityRecord] = {}
        self.max_entity_state_bytes: int | None = None
        return {
            act.CallEntity: self._on_call_entity,
            act.SignalEntity: self._on_signal_entity,
            act.LockEntity: self._on_lock_entity,
            act.ReleaseLocks: self._on_release_locks,
        }

    # -- the surface -------------------------------------------------------------
    def signal_entity(self, entity: Any, operation: str, input: Any = None) -> None:
        """Send a one-way operation from outside (like ``DurableClient.signal_entity``)."""
        entity_id = EntityId.of(entity)
        self.registry.check_entity_call(entity_id.name, operation)
        value = round_trip(input, "entity signal input")
        self._enqueue(entity_id, Operation(operation, value, SIGNAL))

    def entity_state(self, entity: Any) -> Any:
        """The entity's state (None when it has none)."""
        record = self._entities.get(EntityId.of(entity))
        return record.state if record is not None else None

    def get_entity(self, entity: Any) -> dict[str, Any]:
        """State, existence, lock holder, queued operations and the operations applied."""
        record = self._entities.get(EntityId.of(entity)) or _EntityRecord(EntityId.of(entity))
        return {
            "entity": str(record.entity_id),
            "exists": record.exists,
            "state": record.state,
            "lock_holder": record.lock_holder,
            "queued": [op.operation for op in record.queue],
            "applied": [(o.operation.operation, o.ok) for o in record.log],
            "batches": record.batches,
        }

    # -- the loop ------------------------------------------------------------------
    def _step_entities(self) -> bool:
        for record in list(self._entities.values()):
            if record.queue and self._run_entity_batch(record):
                return True
        return False

    def _run_entity_batch(self, record: _EntityRecord) -> bool:
        holder = record.lock_holder
        if holder is not None:
            inst = self._instances.get(holder)
            if inst is None or inst.status in TERMINAL_STATUSES:
                record.lock_holder = None  # the holder ended: its locks go with it
        name = record.entity_id.name
        definition = self.registry.get_entity(name) if self.registry.has_entity(name) else None
        result = run_batch(
            definition,
            record.entity_id,
            record.exists,
            record.state,
            record.lock_holder,
            record.queue,
            self.max_entity_state_bytes,
        )
        if not result.applied and record.lock_holder == holder:
            return False
        record.batches += 1
        record.exists, record.state = result.exists, result.state
        record.lock_holder = result.lock_holder
        record.queue = result.deferred
        record.log.extend(result.applied)
        for outcome, event in result.responses:
            op = outcome.operation
            inst = self._instances.get(op.sender)
            if inst is not None and str(inst.execution) == op.execution_id:
                inst.inbox.append(event)
        sender = str(record.entity_id)
        for signal in result.signals:
            self._enqueue(signal.entity, Operation(signal.operation, signal.input, sender=sender))
        for start in result.starts:
            self._start_from_entity(start)
        return True

    def _start_from_entity(self, start: Any) -> None:
        if start.instance_id is not None and start.instance_id in self._instances:
            return  # an id in use starts nothing (as in the runtime)
        self.start(start.name, start.input, instance_id=start.instance_id)  # type: ignore[attr-defined]

    def _enqueue(self, entity_id: EntityId, op: Operation) -> None:
        record = self._entities.get(entity_id)
        if record is None:
            record = self._entities[entity_id] = _EntityRecord(entity_id)
        record.queue.append(op)

    # -- action handlers -------------------------------------------------------------
    def _from(self, inst: Any, action: Any, kind: str) -> Operation:
        task_id = action.task_id if kind in (CALL, LOCK) else None
        value = getattr(action, "input", None)
        operation = getattr(action, "operation", kind)
        return Operation(operation, value, kind, inst.instance_id, str(inst.execution), task_id)

    def _on_call_entity(self, inst: Any, action: act.CallEntity) -> None:
        self._enqueue(EntityId.of(action.entity), self._from(inst, action, CALL))

    def _on_signal_entity(self, inst: Any, action: act.SignalEntity) -> None:
        self._enqueue(EntityId.of(action.entity), self._from(inst, action, SIGNAL))

    def _on_lock_entity(self, inst: Any, action: act.LockEntity) -> None:
        self._enqueue(EntityId.of(action.entity), self._from(inst, action, LOCK))

    def _on_release_locks(self, inst: Any, action: act.ReleaseLocks) -> None:
        for entity in action.entities:
            op = Operation(UNLOCK, None, UNLOCK, inst.instance_id, str(inst.execution))
            self._enqueue(EntityId.of(entity), op)
