"""Durable entities, the pure part: ids, definitions, and applying a batch of operations.

An entity is a small piece of durable state addressed by ``(name, key)`` whose
operations run one at a time, in order. Entities are not replayed: the runtime (or
``WorkflowTestRunner``) hands :func:`run_batch` the stored state and the queued
operations, and stores what it returns (state, lock holder, responses to callers,
outgoing signals and starts) in one commit. See docs/architecture.md, "Entities".

Example::

    @entity(name="counter")
    def counter(ctx, operation, value):
        if operation == "add":
            ctx.state = (ctx.state or 0) + value
        elif operation == "get":
            return ctx.state or 0
        elif operation == "reset":
            ctx.delete_state()
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import events as ev
from .errors import RegistrationError, UnknownEntityError, WorkflowCodeError
from .failures import FailureDetails
from .payloads import check_size, round_trip

# Operation kinds: what a queued operation asks of its entity.
SIGNAL, CALL, LOCK, UNLOCK = "signal", "call", "lock", "unlock"
KINDS = (SIGNAL, CALL, LOCK, UNLOCK)
MAX_KEY_LENGTH = 200
MAX_NAME_LENGTH = 100


@dataclass(frozen=True, order=True)
class EntityId:
    """The address of one entity: its registered ``name`` and a ``key`` of your choice.

    Ordered by (name, key): locks are always taken in this order. ``str()`` gives
    ``@name@key``, the form stored in history and operation rows.

    Example::

        EntityId("bank_account", "alice")  # or ("bank_account", "alice"), "@bank_account@alice"
    """

    name: str
    key: str

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name
            or "@" in self.name
            or "\x00" in self.name
        ):
            raise WorkflowCodeError(
                f"An entity name must be non-empty text without '@', got {self.name!r}."
            )
        if len(self.name) > MAX_NAME_LENGTH:
            raise WorkflowCodeError(f"An entity name has at most {MAX_NAME_LENGTH} characters.")
        if (
            not isinstance(self.key, str)
            or not self.key
            or len(self.key) > MAX_KEY_LENGTH
            or "\x00" in self.key
        ):
            raise WorkflowCodeError(
                f"An entity key must be non-empty text of at most {MAX_KEY_LENGTH} characters, "
                f"got {self.key!r}."
            )

    def __str__(self) -> str:
        return f"@{self.name}@{self.key}"

    @classmethod
    def of(cls, value: Any) -> EntityId:
        """An id from an ``EntityId``, a ``(name, key)`` pair or ``"@name@key"``."""
        if isinstance(value, EntityId):
            return value
        if isinstance(value, tuple | list) and len(value) == 2:
            return cls(value[0], value[1])
        if isinstance(value, str) and value.startswith("@") and value.count("@") >= 2:
            name, key = value[1:].split("@", 1)
            return cls(name, key)
        raise WorkflowCodeError(
            f"An entity id is an EntityId, a (name, key) pair or '@name@key', got {value!r}."
        )


class EntityContext:
    """What an entity operation receives as ``ctx``.

    ``ctx.state`` is the entity's JSON state (None before the first write); assign it
    to change it; ``ctx.delete_state()`` removes it. Signals and orchestration starts
    are sent when the operation's batch commits, and only if the operation succeeded.
    """

    def __init__(self, entity_id: EntityId, state: Any, exists: bool) -> None:
        self.entity_id = entity_id
        self.operation = ""
        self.state = state
        self.exists = exists
        self._signals: list[OutgoingSignal] = []
        self._starts: list[OrchestrationStart] = []

    @property
    def key(self) -> str:
        return self.entity_id.key

    def delete_state(self) -> None:
        """Remove the state: the entity reads as new (state None) afterwards."""
        self.state = None
        self.exists = False

    def signal_entity(self, entity: Any, operation: str, input: Any = None) -> None:
        """Send a one-way operation to another entity (after this batch commits)."""
        target = EntityId.of(entity)
        _check_operation_name(operation)
        self._signals.append(
            OutgoingSignal(target, operation, round_trip(input, "entity signal input"))
        )

    def start_orchestration(
        self, name: str, input: Any = None, instance_id: str | None = None
    ) -> None:
        """Start an orchestration (after this batch commits); an id in use starts nothing."""
        if not isinstance(name, str) or not name:
            raise WorkflowCodeError("start_orchestration needs an orchestrator name.")
        value = round_trip(input, "orchestration input")
        self._starts.append(OrchestrationStart(name, value, instance_id))


@dataclass(frozen=True)
class OutgoingSignal:
    entity: EntityId
    operation: str
    input: Any = None


@dataclass(frozen=True)
class OrchestrationStart:
    name: str
    input: Any = None
    instance_id: str | None = None


@dataclass(frozen=True)
class EntityDef:
    """A registered entity: a function ``fn(ctx, operation, input)`` or a class whose
    public methods are the operations (its public fields are the state)."""

    name: str
    target: Callable[..., Any]
    operations: frozenset[str] | None = None  # None: any name (a function decides)

    @property
    def is_class(self) -> bool:
        return inspect.isclass(self.target)

    def check_operation(self, operation: str) -> None:
        """Raise :class:`UnknownEntityError` for an operation this entity does not have."""
        _check_operation_name(operation)
        if self.operations is not None and operation not in self.operations:
            raise UnknownEntityError(self.name, operation, known=sorted(self.operations))

    def run(self, ctx: EntityContext, operation: str, input: Any) -> Any:
        self.check_operation(operation)
        if not self.is_class:
            return self.target(ctx, operation, input)
        obj = self.target()
        if isinstance(ctx.state, dict):
            obj.__dict__.update(ctx.state)
        method = getattr(obj, operation)
        takes_input = len(inspect.signature(method).parameters) > 0
        result = method(input) if takes_input else method()
        ctx.state = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
        ctx.exists = True
        return result


def define_entity(
    target: Callable[..., Any], name: str, operations: Iterable[str] | None = None
) -> EntityDef:
    """Check an ``@entity`` target at definition time and describe it."""
    if not isinstance(name, str) or not name or "@" in name or name != name.strip():
        raise RegistrationError(f"Entity name must be non-empty text without '@', got {name!r}.")
    if inspect.isclass(target):
        if operations is not None:
            raise RegistrationError(
                f"Entity {name!r}: a class entity's operations are its public methods; "
                "do not pass operations=."
            )
        ops = frozenset(n for n, v in vars(target).items() if not n.startswith("_") and callable(v))
        if not ops:
            raise RegistrationError(f"Entity class {name!r} has no public method (operation).")
        return EntityDef(name, target, ops)
    if not callable(target) or inspect.isgeneratorfunction(target):
        raise RegistrationError(
            f"Entity {name!r} must be a plain function fn(ctx, operation, input) or a class."
        )
    if len(inspect.signature(target).parameters) != 3:
        raise RegistrationError(f"Entity function {name!r} must take (ctx, operation, input).")
    ops = frozenset(operations) if operations is not None else None
    return EntityDef(name, target, ops)


def _check_operation_name(operation: Any) -> None:
    if not isinstance(operation, str) or not operation or len(operation) > MAX_NAME_LENGTH:
        raise WorkflowCodeError(
            f"An entity operation is a non-empty name of at most {MAX_NAME_LENGTH} characters, "
            f"got {operation!r}."
        )


# -- operations and batches --------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    """One queued operation. ``sender``: the instance id of an orchestration, ``@name@key``
    of an entity, or "" from outside; a lock only lets its holder's operations through.
    ``task_id`` and ``execution_id`` say where a call's (or lock's) answer goes."""

    operation: str
    input: Any = None
    kind: str = SIGNAL
    sender: str = ""
    execution_id: str = ""
    task_id: int | None = None
    ref: Any = None  # the runtime's row id; opaque here


@dataclass(frozen=True)
class OperationOutcome:
    operation: Operation
    ok: bool
    result: Any = None
    failure: FailureDetails | None = None


@dataclass
class BatchResult:
    """What one batch decided; stored in one commit by the caller."""

    exists: bool
    state: Any
    lock_holder: str | None
    applied: list[OperationOutcome] = field(default_factory=list)
    deferred: list[Operation] = field(default_factory=list)
    signals: list[OutgoingSignal] = field(default_factory=list)
    starts: list[OrchestrationStart] = field(default_factory=list)

    @property
    def responses(self) -> list[tuple[OperationOutcome, ev.HistoryEvent]]:
        """(outcome, event for the caller's inbox) for every call and lock applied."""
        found = []
        for outcome in self.applied:
            event = response_event(outcome)
            if event is not None:
                found.append((outcome, event))
        return found


def response_event(outcome: OperationOutcome) -> ev.HistoryEvent | None:
    """The history event that answers a call or a lock request; None for the others."""
    op = outcome.operation
    if op.task_id is None:
        return None
    if op.kind == CALL:
        if outcome.ok:
            return ev.EntityCallCompleted(op.task_id, outcome.result)
        assert outcome.failure is not None
        return ev.EntityCallFailed(op.task_id, outcome.failure)
    if op.kind == LOCK:
        return ev.EntityLockGranted(op.task_id)
    return None


def run_batch(
    definition: EntityDef | None,
    entity_id: EntityId,
    exists: bool,
    state: Any,
    lock_holder: str | None,
    operations: Iterable[Operation],
    max_state_bytes: int | None = None,
) -> BatchResult:
    """Apply ``operations`` in order to one entity; pure (no clock, no I/O).

    An operation that raises changes nothing: the state goes back to what it was
    before it, its signals and starts are dropped, and its caller gets the error.
    While the entity is locked, operations of other senders wait (``deferred``), and
    once a sender has one waiting, its later ones wait too (order per sender).

    Example::

        result = run_batch(defn, EntityId("counter", "a"), False, None, None,
                           [Operation("add", 2), Operation("add", 3)])
        result.state  # 5
    """
    result = BatchResult(exists, state, lock_holder)
    remaining = list(operations)
    while remaining:
        waiting_senders: set[str] = set()
        still: list[Operation] = []
        unlocked_at: int | None = None
        for index, op in enumerate(remaining):
            holder = result.lock_holder
            if op.sender in waiting_senders or (holder is not None and op.sender != holder):
                waiting_senders.add(op.sender)
                still.append(op)
                continue
            _apply_one(definition, entity_id, op, result, max_state_bytes)
            if holder is not None and result.lock_holder is None and still:
                # Released while others waited: they go first, in the order they came.
                unlocked_at = index + 1
                break
        if unlocked_at is None:
            remaining = still
            break
        remaining = still + remaining[unlocked_at:]
    result.deferred = remaining
    return result


def _apply_one(
    definition: EntityDef | None,
    entity_id: EntityId,
    op: Operation,
    result: BatchResult,
    max_state_bytes: int | None,
) -> None:
    if op.kind == LOCK:
        result.lock_holder = op.sender
        result.applied.append(OperationOutcome(op, True))
        return
    if op.kind == UNLOCK:
        if result.lock_holder == op.sender:
            result.lock_holder = None
        result.applied.append(OperationOutcome(op, True))
        return
    # A copy: an operation that raises leaves ``result`` as it was before it.
    ctx = EntityContext(entity_id, round_trip(result.state), result.exists)
    ctx.operation = op.operation
    try:
        if definition is None:
            raise UnknownEntityError(entity_id.name)
        value = definition.run(ctx, op.operation, round_trip(op.input))
        value = round_trip(value, f"result of entity operation {op.operation!r}")
        state = round_trip(ctx.state, f"state of entity {entity_id}")
        check_size(state, f"state of entity {entity_id}", max_state_bytes)
        if state is not None:
            ctx.exists = True
    except Exception as exc:  # noqa: BLE001 - an operation's error goes to its caller
        failure = FailureDetails.from_exception(exc)
        result.applied.append(OperationOutcome(op, False, failure=failure))
        return
    result.exists = ctx.exists
    result.state = state if ctx.exists else None
    result.signals.extend(ctx._signals)
    result.starts.extend(ctx._starts)
    result.applied.append(OperationOutcome(op, True, value))
