"""The one error tree of durableapp: every error the engine or runtime raises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .failures import FailureDetails


class DurableError(Exception):
    """Base of every durableapp error."""


class RegistrationError(DurableError):
    """An orchestrator or activity was registered with a bad name, version or option."""


class UnknownOrchestratorError(DurableError):
    """No orchestrator (or no such version of it) is registered under that name."""

    def __init__(self, name: str, version: int | None = None, known: list[str] | None = None):
        self.name = name
        self.version = version
        where = f"{name!r} version {version}" if version is not None else repr(name)
        hint = f" Registered: {', '.join(sorted(known))}." if known else ""
        super().__init__(
            f"No orchestrator {where} is registered.{hint} "
            "Check the name, and that the module defining it is imported at start-up."
        )


class UnknownActivityError(DurableError):
    """No activity is registered under that name."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"No activity {name!r} is registered. "
            "Check the name, and that the module defining it is imported by the worker."
        )


class PayloadError(DurableError, TypeError):
    """A value that must enter history is not JSON-serializable or is too large."""


class WorkflowCodeError(DurableError):
    """Orchestrator code broke a rule of the programming model (e.g. yielded a non-task)."""


class NonDeterminismError(DurableError):
    """Replay produced a different action than the one history recorded."""

    def __init__(self, instance_id: str, step: int, recorded: str, produced: str):
        self.instance_id = instance_id
        self.step = step
        self.recorded = recorded
        self.produced = produced
        super().__init__(
            f"Non-deterministic orchestrator in instance {instance_id!r} at step {step}: "
            f"history recorded {recorded}, but the code now produced {produced}. "
            "Check that the orchestrator is deterministic (no clock, random or I/O outside "
            "activities), or register the changed code as a new version."
        )


class NonRetryableError(Exception):
    """Raise (or subclass) this in an activity to fail it without any retry.

    Example::

        @activity(name="charge_card")
        def charge_card(ctx, order):
            if order["amount"] <= 0:
                raise NonRetryableError("amount must be positive")
    """


class PayloadMismatch(PayloadError, NonRetryableError):
    """A value does not fit the type hint of the code that receives (or returns) it.

    Never retried: the same value fails the same check on every attempt. The message
    says what was expected, what was found and where (README "Payloads > Types").
    """


class PayloadTooLarge(PayloadError, NonRetryableError):
    """A value entering history is over the payload size limit (never retried)."""

    def __init__(
        self, what: str, size: int, limit: int, setting: str = "DURABLE_MAX_PAYLOAD_BYTES"
    ):
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(
            f"The {what} is {size} bytes, over the limit of {limit} bytes "
            f"({setting}). Store the artifact elsewhere (object storage, a "
            "file or a table) and pass a reference to it (a key or URL) instead."
        )


class TaskFailed(DurableError):
    """A durable task awaited by an orchestrator failed. Catchable in orchestrator code."""

    def __init__(self, message: str, failure: FailureDetails | None = None):
        self.failure = failure
        super().__init__(message)


class ActivityFailed(TaskFailed):
    """An activity failed for good (after its retry policy gave up)."""

    def __init__(self, name: str, failure: FailureDetails, attempts: int = 1):
        self.name = name
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"Activity {name!r} failed{tries}: {failure.summary()}", failure)


class ActivityTimedOut(ActivityFailed):
    """An activity attempt ran past its ``start_to_close``, or sent no heartbeat within its
    ``heartbeat_timeout`` (a hung call), and no retry is left. Catchable in orchestrator
    code; ``except ActivityFailed`` catches it too.

    The sweeper records the attempt as failed with this type, so a retry policy retries
    it like any transient failure unless it lists it in ``non_retryable``.

    Example::

        try:
            yield ctx.call_activity("call_partner", order, start_to_close=30)
        except ActivityTimedOut:
            yield ctx.call_activity("notify_ops", order)
    """

    def __init__(self, name: str, failure: FailureDetails, attempts: int = 1):
        self.name = name
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        TaskFailed.__init__(self, f"Activity {name!r} timed out{tries}: {failure.message}", failure)


class ActivityCancelled(DurableError):
    """Raised by ``ctx.heartbeat()`` in an activity whose result is no longer wanted.

    Its instance was terminated or continued as new, the attempt timed out, or another
    run took the task over. Clean up and return (or let it propagate): whatever the
    activity returns now is ignored.
    """


class SubOrchestrationFailed(TaskFailed):
    """A sub-orchestration ended failed (or terminated)."""

    def __init__(self, name: str, instance_id: str, failure: FailureDetails):
        self.name = name
        self.instance_id = instance_id
        super().__init__(
            f"Sub-orchestration {name!r} ({instance_id}) failed: {failure.summary()}", failure
        )


class EventTimeout(TaskFailed):
    """An awaited external event did not arrive before its deadline."""

    def __init__(self, name: str, timeout_at: Any):
        self.name = name
        self.timeout_at = timeout_at
        super().__init__(f"External event {name!r} did not arrive by {timeout_at}.")


class ApprovalTimeout(TaskFailed):
    """Nobody decided an approval request before its deadline."""

    def __init__(self, name: str, deadline: Any):
        self.name = name
        self.deadline = deadline
        super().__init__(f"Approval {name!r} was not decided by its deadline {deadline}.")


class FanOutFailed(TaskFailed):
    """At least one task of a `task_all` failed; `outcomes` keeps every child's outcome."""

    def __init__(self, outcomes: list[Any]):
        self.outcomes = outcomes
        failed = [o for o in outcomes if not o.ok]
        first = failed[0].error if failed else None
        super().__init__(
            f"{len(failed)} of {len(outcomes)} tasks failed; first: {first}",
            getattr(first, "failure", None),
        )

    @property
    def completed(self) -> list[Any]:
        """Outcomes of the children that succeeded, in input order."""
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[Any]:
        """Outcomes of the children that failed, in input order."""
        return [o for o in self.outcomes if not o.ok]


class EntityOperationFailed(TaskFailed):
    """An entity operation called with ``ctx.call_entity`` raised; the entity's state is as
    it was before that operation.

    Example::

        try:
            yield ctx.call_entity(("bank_account", "alice"), "withdraw", 50)
        except EntityOperationFailed as exc:
            reason = exc.failure.message
    """

    def __init__(self, entity: str, operation: str, failure: FailureDetails):
        self.entity = entity
        self.operation = operation
        super().__init__(
            f"Entity operation {operation!r} on {entity} failed: {failure.summary()}", failure
        )


class UnknownEntityError(DurableError):
    """No entity is registered under that name, or it has no such operation."""

    def __init__(self, name: str, operation: str | None = None, known: list[str] | None = None):
        self.name = name
        self.operation = operation
        if operation is None:
            hint = f" Registered: {', '.join(sorted(known))}." if known else ""
            text = f"No entity {name!r} is registered.{hint}"
        else:
            hint = f" Its operations: {', '.join(sorted(known))}." if known else ""
            text = f"Entity {name!r} has no operation {operation!r}.{hint}"
        super().__init__(
            f"{text} Check the name, and that the module defining it is imported at start-up."
        )


class IncompatibleCode(DurableError):
    """The deployed orchestrator code cannot replay instances that still depend on it."""

    def __init__(self, problems: list[Any], what: str = "the deployed code"):
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(
            f"{len(problems)} instance(s) cannot be replayed by {what}:\n{listed}{more}\n"
            "Keep the old orchestrator versions registered until their instances drained, "
            "or register changed code under a new version (or guard it with ctx.is_patched)."
        )


class NotAllowed(DurableError):
    """The user may not do this (e.g. decide an approval of another group)."""


class ClientError(DurableError):
    """A request the client refuses; nothing was changed."""


class InvalidInput(ClientError):
    """An argument is malformed (bad id, bad payload, bad filter)."""


class InstanceNotFound(ClientError):
    """No instance with that id exists in this task hub."""

    def __init__(self, instance_id: str):
        self.instance_id = instance_id
        super().__init__(f"No instance {instance_id!r} exists (in this task hub).")


class InstanceExists(ClientError):
    """An active instance already uses that id."""

    def __init__(self, instance_id: str, status: str):
        self.instance_id = instance_id
        super().__init__(
            f"Instance {instance_id!r} already exists and is {status}. "
            "Choose another instance_id, or wait for it to finish."
        )


class FinishedInstanceExists(InstanceExists):
    """The id belongs to a finished instance; starting under it would replace that one."""

    def __init__(self, instance_id: str, status: str):
        self.instance_id = instance_id
        self.status = status
        ClientError.__init__(
            self,
            f"Instance {instance_id!r} already exists and finished ({status}). Starting under "
            "its id replaces it: its input, history and business key are deleted. To do "
            'that, pass replace (API "replace": true, CLI --replace, the start page\'s '
            "Replace box), which needs workflows.operate_instance; otherwise ask an "
            "operator, or choose another instance id.",
        )


class InvalidState(ClientError):
    """The instance's status does not allow the operation."""


class InstanceFinished(InvalidState):
    """The instance already finished, so it takes no more events or operations."""

    def __init__(self, instance_id: str, status: str, what: str):
        self.instance_id = instance_id
        self.status = status
        super().__init__(f"Instance {instance_id!r} already finished ({status}); cannot {what}.")
