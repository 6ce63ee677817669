"""The pure replay engine: standard library only, no Django, no I/O.

Public names for workflow authors::

    from workflows.engine import orchestrator, activity, RetryPolicy, ActivityFailed
"""

from __future__ import annotations

from .activity import ActivityContext
from .entities import EntityContext, EntityId
from .entity_calls import EntityLock
from .errors import (
    ActivityCancelled,
    ActivityFailed,
    ActivityTimedOut,
    ApprovalTimeout,
    DurableError,
    EntityOperationFailed,
    EventTimeout,
    FanOutFailed,
    IncompatibleCode,
    NonDeterminismError,
    NonRetryableError,
    NotAllowed,
    PayloadError,
    PayloadTooLarge,
    RegistrationError,
    SubOrchestrationFailed,
    TaskFailed,
    UnknownActivityError,
    UnknownEntityError,
    UnknownOrchestratorError,
    WorkflowCodeError,
)
from .executor import EpisodeResult, InstanceRef, Orchestration, OrchestrationStatus, execute
from .failures import FailureDetails
from .registry import Registry, activity, default_registry, entity, orchestrator
from .retry import RetryPolicy
from .saga import CompensationOutcome, Saga, retry_failed
from .tasks import Outcome, Task

__all__ = [
    "ActivityCancelled",
    "ActivityContext",
    "ActivityFailed",
    "ActivityTimedOut",
    "ApprovalTimeout",
    "CompensationOutcome",
    "DurableError",
    "EntityContext",
    "EntityId",
    "EntityLock",
    "EntityOperationFailed",
    "EpisodeResult",
    "EventTimeout",
    "FailureDetails",
    "FanOutFailed",
    "IncompatibleCode",
    "InstanceRef",
    "NonDeterminismError",
    "NonRetryableError",
    "NotAllowed",
    "Orchestration",
    "OrchestrationStatus",
    "Outcome",
    "PayloadError",
    "PayloadTooLarge",
    "Registry",
    "RegistrationError",
    "RetryPolicy",
    "Saga",
    "SubOrchestrationFailed",
    "Task",
    "TaskFailed",
    "UnknownActivityError",
    "UnknownEntityError",
    "UnknownOrchestratorError",
    "WorkflowCodeError",
    "activity",
    "default_registry",
    "entity",
    "execute",
    "orchestrator",
    "retry_failed",
]
