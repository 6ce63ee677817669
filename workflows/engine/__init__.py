"""The pure replay engine: standard library only, no Django, no I/O.

Public names for workflow authors::

    from workflows.engine import orchestrator, activity, RetryPolicy, ActivityFailed
"""

from __future__ import annotations

from .activity import ActivityContext
from .errors import (
    ActivityCancelled,
    ActivityFailed,
    ActivityTimedOut,
    ApprovalTimeout,
    DurableError,
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
    UnknownOrchestratorError,
    WorkflowCodeError,
)
from .executor import EpisodeResult, InstanceRef, Orchestration, OrchestrationStatus, execute
from .failures import FailureDetails
from .registry import Registry, activity, default_registry, orchestrator
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
    "UnknownOrchestratorError",
    "WorkflowCodeError",
    "activity",
    "default_registry",
    "execute",
    "orchestrator",
    "retry_failed",
]
