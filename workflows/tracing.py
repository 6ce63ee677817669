"""OpenTelemetry traces of durable work: one trace from the start of an instance through
every episode, activity attempt, sub-orchestration and entity batch, across processes.

Off unless ``opentelemetry-api`` is installed (the ``tracing`` extra) and a tracer
provider is configured in the process (``opentelemetry-instrument``, or
``trace.set_tracer_provider(...)`` in your settings or a DURABLE_WORKFLOW_MODULES
module). Off, every wrapper here is one check and a direct call: no span, no query, no
allocation.

The start's context (W3C ``traceparent``, and ``tracestate``) is stored with the
instance, in its ExecutionStarted event (``trace_context``), so it survives restarts
and reaches every worker: an episode's or an attempt's span is a child of it, looked up
once per process and execution (an LRU of CONTEXT_CACHE_SIZE). A sub-orchestration is
started inside its parent's episode span, so its own spans hang below that episode. See
docs/architecture.md, "Tracing".
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .conf import conf
from .engine import events as ev
from .models import HistoryEvent, InboxMessage, Instance
from .statuses import InstanceStatus

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the `tracing` extra is not installed: every wrapper is a plain call
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .engine.activity import ActivityOutcome
    from .models import ActivityTask

Episode = Any  # episodes.Episode (a layer above: not imported)

# W3C trace context only, whatever propagators the process configured for its HTTP calls:
# what is stored must be readable by every worker.
_PROPAGATOR = TraceContextTextMapPropagator() if trace is not None else None
TRACER_NAME = "durableapp"
CONTEXT_CACHE_SIZE = 10_000

_provider: Any = None  # set_provider's, else the global one


def set_provider(provider: Any) -> None:
    """Trace with ``provider`` instead of the global one (None: the global again).

    For tests, which cannot replace OpenTelemetry's global provider once set::

        tracing.set_provider(TracerProvider())
    """
    global _provider
    _provider = provider


def enabled() -> bool:
    """True when spans are recorded: the API is installed and a provider configured."""
    if trace is None:
        return False
    if _provider is not None:
        return True
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def _tracer() -> Any:
    return (_provider or trace.get_tracer_provider()).get_tracer(TRACER_NAME)


def current_context() -> dict[str, str] | None:
    """The current span's context as W3C headers, to store with a new instance; None off.

    Example::

        ExecutionStarted(name, version, input, trace_context=tracing.current_context())
    """
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier or None


# -- the stored context of an instance's execution ----------------------------------------
_lock = threading.Lock()
_contexts: OrderedDict[tuple[int, str], dict[str, str] | None] = OrderedDict()


def instance_context(instance_pk: int, execution_id: str) -> dict[str, str] | None:
    """The trace context stored with an execution; cached per process.

    Read from the instance row (``Instance.trace_context``, one small column): the start
    event's payload is not loaded (decrypted, maybe fetched from the payload storage).
    Only an execution the row no longer holds, or an instance started before the column,
    falls back to that payload: its ExecutionStarted in history, or still in the inbox,
    of this very execution.
    """
    key = (instance_pk, execution_id)
    with _lock:
        if key in _contexts:
            _contexts.move_to_end(key)
            return _contexts[key]
    found = (
        Instance.objects.filter(pk=instance_pk, execution_id=execution_id)
        .values_list("trace_context", flat=True)
        .first()
    )
    if found is None:
        found = _started_payload_context(instance_pk, execution_id)
    with _lock:
        _contexts[key] = found
        while len(_contexts) > CONTEXT_CACHE_SIZE:
            _contexts.popitem(last=False)
    return found


def _started_payload_context(instance_pk: int, execution_id: str) -> dict[str, str] | None:
    started = ev.EventType.EXECUTION_STARTED.value
    for model in (HistoryEvent, InboxMessage):
        payload = (
            model.objects.filter(instance_id=instance_pk, execution_id=execution_id, kind=started)
            .values_list("payload", flat=True)
            .first()
        )
        if isinstance(payload, Mapping):
            return payload.get("trace_context")
    return None


def _cached_context(instance_pk: int, execution_id: str) -> dict[str, str] | None:
    with _lock:
        return _contexts.get((instance_pk, execution_id))


def _sender_context(hub: str, sender: str) -> dict[str, str] | None:
    if not sender or sender.startswith("@"):  # from outside, or another entity
        return None
    row = (
        Instance.objects.filter(task_hub=hub, instance_id=sender)
        .values_list("pk", "execution_id")
        .first()
    )
    return instance_context(*row) if row else None


# -- spans -----------------------------------------------------------------------------------
@contextmanager
def _span(name: str, parent: Mapping[str, str] | None, attributes: dict[str, Any]) -> Iterator:
    context = _PROPAGATOR.extract(parent) if parent else None
    with _tracer().start_as_current_span(name, context=context, attributes=attributes) as span:
        yield span


def _record_failure(span: Any, failure: Mapping[str, Any] | None) -> None:
    """An error status and an ``exception`` event (OpenTelemetry's attribute names) from
    stored failure details: the exception itself was raised elsewhere, maybe replayed.

    Only the type, unless DURABLE_TRACE_FAILURE_MESSAGES: a failure's message and
    traceback are payloads (encrypted at rest, gated by workflows.view_payloads) and
    may quote business data the collector must not see.
    """
    failure = failure or {}
    kind = str(failure.get("type", ""))
    attributes = {"exception.type": kind}
    description = kind
    if conf.TRACE_FAILURE_MESSAGES:
        description = str(failure.get("message", ""))
        attributes["exception.message"] = description
        attributes["exception.stacktrace"] = str(failure.get("traceback") or "")
    span.set_status(Status(StatusCode.ERROR, description))
    span.add_event("exception", attributes)


def _present(attributes: dict[str, Any]) -> dict[str, Any]:
    # None is not a valid attribute value (the SDK drops it with a warning): leave it out.
    return {name: value for name, value in attributes.items() if value is not None}


def _instance_attributes(instance: Instance) -> dict[str, Any]:
    return _present(
        {
            "durable.instance_id": instance.instance_id,
            "durable.execution_id": instance.execution_id,
            "durable.business_key": instance.business_key or None,
            "durable.orchestrator": instance.name,
            "durable.version": instance.version,
            "durable.task_hub": instance.task_hub,
        }
    )


def _task_attributes(task: ActivityTask) -> dict[str, Any]:
    return _present(
        {
            **_instance_attributes(task.instance),
            "durable.activity": task.name,
            "durable.task_id": task.task_id,
            "durable.attempt": task.attempt,
            "durable.run": task.runs,
        }
    )


# -- wrappers: one line at each call site (a decorator) ---------------------------------------
def traced_start(fn: Callable[..., str]) -> Callable[..., str]:
    """``DurableClient._start``: the span of starting an instance, current while the
    instance row and its ExecutionStarted (which stores this span's context) are written."""

    @functools.wraps(fn)
    def start(self: Any, name: str, *args: Any, **kwargs: Any) -> str:
        if not enabled():
            return fn(self, name, *args, **kwargs)
        with _span(f"durable.start {name}", None, {"durable.orchestrator": name}) as span:
            started = fn(self, name, *args, **kwargs)
            span.set_attribute("durable.instance_id", started)
            return started

    return start


def traced_episode(fn: Callable[..., Episode]) -> Callable[..., Episode]:
    """``episodes.episode_locked``: a span per episode, child of the instance's start."""

    @functools.wraps(fn)
    def episode(instance: Instance, *args: Any, **kwargs: Any) -> Episode:
        if not enabled():
            return fn(instance, *args, **kwargs)
        parent = instance_context(instance.pk, instance.execution_id)
        attributes = _instance_attributes(instance)
        with _span(f"durable.episode {instance.name}", parent, attributes) as span:
            result = fn(instance, *args, **kwargs)
            span.set_attribute("durable.status", str(instance.status))
            if instance.status == InstanceStatus.FAILED:
                _record_failure(span, instance.failure)
            return result

    return episode


def traced_attempt(fn: Callable[..., ActivityOutcome]) -> Callable[..., ActivityOutcome]:
    """``runtime.activities.attempt``: a span per activity attempt (run)."""

    @functools.wraps(fn)
    def attempt(task: ActivityTask, registry: Any) -> ActivityOutcome:
        if not enabled():
            return fn(task, registry)
        parent = instance_context(task.instance_id, task.execution_id)
        with _span(f"durable.activity {task.name}", parent, _task_attributes(task)) as span:
            outcome = fn(task, registry)
            if not outcome.ok:
                _record_failure(span, outcome.failure.to_dict() if outcome.failure else None)
            return outcome

    return attempt


def prefetch(task: ActivityTask) -> None:
    """Look the task's trace context up now (a worker thread), not on the event loop."""
    if enabled():
        instance_context(task.instance_id, task.execution_id)


def traced_async_attempt(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``runtime.activities._attempt_async``: :func:`traced_attempt` on the event loop
    (the context was looked up by :func:`prefetch`: no query here)."""

    @functools.wraps(fn)
    async def attempt(task: ActivityTask, registry: Any, beats: Any) -> ActivityOutcome:
        if not enabled():
            return await fn(task, registry, beats)
        parent = _cached_context(task.instance_id, task.execution_id)
        with _span(f"durable.activity {task.name}", parent, _task_attributes(task)) as span:
            outcome = await fn(task, registry, beats)
            if not outcome.ok:
                _record_failure(span, outcome.failure.to_dict() if outcome.failure else None)
            return outcome

    return attempt


def traced_entity_batch(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``entities.batches._apply``: a span per batch of an entity's operations, child of
    the first operation's sending instance (an event per operation, with its sender)."""

    @functools.wraps(fn)
    def apply(entity: Any, queued: list, registry: Any) -> Any:
        if not enabled():
            return fn(entity, queued, registry)
        sender = next((row.sender for row in queued if row.sender), "")
        parent = _sender_context(entity.task_hub, sender)
        attributes = {
            "durable.entity": entity.name,
            "durable.entity_key": entity.key,
            "durable.task_hub": entity.task_hub,
            "durable.operations": len(queued),
        }
        with _span(f"durable.entity {entity.name}", parent, attributes) as span:
            for row in queued:
                span.add_event(
                    "operation",
                    {"durable.operation": row.operation, "durable.sender": row.sender or ""},
                )
            return fn(entity, queued, registry)

    return apply


def traced_request(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An API view: a ``traceparent`` header of the caller becomes the parent of what the
    view starts, unless a span is current already (Django's instrumentation made one)."""

    @functools.wraps(fn)
    def view(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not enabled() or trace.get_current_span().get_span_context().is_valid:
            return fn(self, request, *args, **kwargs)
        headers = {"traceparent": request.META.get("HTTP_TRACEPARENT", "")}
        if request.META.get("HTTP_TRACESTATE"):
            headers["tracestate"] = request.META["HTTP_TRACESTATE"]
        token = otel_context.attach(_PROPAGATOR.extract(headers))
        try:
            return fn(self, request, *args, **kwargs)
        finally:
            otel_context.detach(token)

    return view
