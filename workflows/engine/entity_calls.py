"""The orchestrator's side of entities: calls, signals and critical sections (locks).

Called by :class:`~workflows.engine.context.OrchestrationContext`, which documents the
API. Each call, signal and lock request is a step recorded in history, so replay
matches it and the runtime sends it once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import actions as act
from .converter import DEFAULT_CONVERTER, DataConverter
from .entities import EntityId, _check_operation_name
from .errors import WorkflowCodeError
from .tasks import CompletableTask, Task

if TYPE_CHECKING:
    from .state import ExecutionState

# Checks an (entity name, operation) against the registry; raises UnknownEntityError.
EntityCheck = Callable[[str, str | None], None]


class EntityCallTask(CompletableTask):
    """A ``call_entity`` in flight; fails with ``EntityOperationFailed``."""

    def __init__(self, task_id: int, entity: EntityId, operation: str) -> None:
        super().__init__(task_id, "entity", f"{entity}.{operation}")
        self.entity = entity
        self.operation = operation


class EntityLock:
    """A held critical section over a set of entities; ``release()`` or use ``with``.

    Example::

        lock = yield ctx.lock([("bank_account", "a"), ("bank_account", "b")])
        with lock:
            balance = yield ctx.call_entity(("bank_account", "a"), "balance")
    """

    def __init__(self, state: ExecutionState, entities: tuple[EntityId, ...]) -> None:
        self._state = state
        self.entities = entities

    @property
    def held(self) -> bool:
        return self._state.locked_entities == frozenset(self.entities)

    def release(self) -> None:
        """Let other senders' operations reach these entities again (idempotent)."""
        if not self.held:
            return
        self._state.set_locks(())
        task_id = self._state.next_task_id()
        self._state.schedule(act.ReleaseLocks(task_id, tuple(str(e) for e in self.entities)))

    def __enter__(self) -> EntityLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _target(check: EntityCheck | None, entity: Any, operation: str) -> EntityId:
    entity_id = EntityId.of(entity)
    _check_operation_name(operation)
    if check is not None:
        check(entity_id.name, operation)
    return entity_id


def call_entity(
    state: ExecutionState,
    check: EntityCheck | None,
    entity: Any,
    operation: str,
    input: Any,
    converter: DataConverter = DEFAULT_CONVERTER,
) -> Task:
    entity_id = _target(check, entity, operation)
    section = state.lock_set
    if section and entity_id not in section:
        raise WorkflowCodeError(
            f"call_entity({str(entity_id)!r}, {operation!r}) inside a critical section: only "
            f"the locked entities ({', '.join(str(e) for e in sorted(section))}) may be called "
            "until the lock is released. Lock it too, or call it after lock.release()."
        )
    value = converter.to_json(input, f"input of entity operation {operation!r}")
    task_id = state.next_task_id()
    task = EntityCallTask(task_id, entity_id, operation)
    state.schedule(act.CallEntity(task_id, str(entity_id), operation, value), task)
    return task


def signal_entity(
    state: ExecutionState,
    check: EntityCheck | None,
    entity: Any,
    operation: str,
    input: Any,
    converter: DataConverter = DEFAULT_CONVERTER,
) -> None:
    entity_id = _target(check, entity, operation)
    value = converter.to_json(input, f"input of entity operation {operation!r}")
    task_id = state.next_task_id()
    state.schedule(act.SignalEntity(task_id, str(entity_id), operation, value))


def lock(state: ExecutionState, check: EntityCheck | None, entities: Iterable[Any]) -> Task:
    if isinstance(entities, str | EntityId):
        entities = [entities]
    ids = tuple(sorted({EntityId.of(e) for e in entities}))
    if not ids:
        raise WorkflowCodeError("ctx.lock needs at least one entity id.")
    if state.lock_set:
        raise WorkflowCodeError(
            "ctx.lock inside a critical section: release the held lock first (locks do not "
            "nest; lock every entity you need in one ctx.lock([...]))."
        )
    if check is not None:
        for entity_id in ids:
            check(entity_id.name, None)
    state.begin_lock(ids)
    outcome = Task()

    def acquire(index: int) -> None:
        task_id = state.next_task_id()
        task = CompletableTask(task_id, "entity_lock", str(ids[index]))
        state.schedule(act.LockEntity(task_id, str(ids[index])), task)
        task.add_listener(lambda _t: granted(index))

    def granted(index: int) -> None:
        # One after the other in sorted order: two orchestrations locking the same
        # set queue at the first entity, so neither holds what the other waits for.
        state.set_locks(ids[: index + 1])
        if index + 1 < len(ids):
            acquire(index + 1)
        else:
            outcome.complete(EntityLock(state, ids))

    acquire(0)
    return outcome
