"""Workflows of the tracing test (tests/observability/test_tracing.py), and the span
export of a worker process: with DURABLE_TEST_SPAN_FILE set, importing this module (a
DURABLE_WORKFLOW_MODULES entry) sets a global tracer provider writing each finished span
as one JSON line to that file.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Sequence
from datetime import timedelta

from tests.support import workflows  # noqa: F401 - t_chain, and the worker needs both sets
from workflows.engine import RetryPolicy, activity, entity, orchestrator

TRACED_MODULES = "tests.support.workflows,tests.support.traced_workflows"
SPAN_FILE = "DURABLE_TEST_SPAN_FILE"


@activity(name="t_traced_flaky")
def t_traced_flaky(ctx, value):
    if ctx.attempt == 1:
        raise ConnectionError("the first attempt fails")
    return value + ctx.attempt


@activity(name="t_traced_async")
async def t_traced_async(ctx, value):
    await asyncio.sleep(0)
    return value * 2


@entity(name="t_traced_counter")
def t_traced_counter(ctx, operation, value):
    ctx.state = (ctx.state or 0) + value
    return ctx.state


@orchestrator(name="t_traced")
def t_traced(ctx, value):
    """An activity retried once, a sub-orchestration, an entity call, an async activity."""
    policy = RetryPolicy(max_attempts=2, first_retry=timedelta(milliseconds=50))
    first = yield ctx.call_activity("t_traced_flaky", value, retry=policy)
    child = yield ctx.call_sub_orchestrator("t_chain", 2)
    counted = yield ctx.call_entity(("t_traced_counter", "one"), "add", first)
    doubled = yield ctx.call_activity("t_traced_async", counted)
    return [first, child, counted, doubled]


def span_record(span) -> dict:
    """What the test checks of a finished span, as JSON."""
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent_id": format(parent.span_id, "016x") if parent is not None else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "pid": os.getpid(),
    }


def _export_to_file(path: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    lock = threading.Lock()

    class JsonLinesExporter(SpanExporter):
        def export(self, spans: Sequence) -> SpanExportResult:
            with lock, open(path, "a") as out:
                for span in spans:
                    out.write(json.dumps(span_record(span)) + "\n")
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter()))
    trace.set_tracer_provider(provider)


if os.environ.get(SPAN_FILE):
    _export_to_file(os.environ[SPAN_FILE])
