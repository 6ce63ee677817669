"""OpenTelemetry: one trace from the HTTP request that starts an instance through its
episodes, activity attempts (a failed one with its error, an async one), a
sub-orchestration and an entity batch. On a real broker the worker is another process,
exporting its spans to a file (tests/support/traced_workflows.py): the links cross the
process boundary through the context stored with the instance. Tracing off: no span,
nothing stored.
"""

from __future__ import annotations

import json
import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rest_framework.test import APIClient

from tests.api.support import CODENAMES, grant
from tests.support.checks import history, wait_until
from tests.support.tokens import token_for
from tests.support.traced_workflows import SPAN_FILE, TRACED_MODULES, span_record
from tests.support.workers import uses_real_broker
from workflows import tracing
from workflows.models import Instance

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def spans(request, transactional_db, fast_sweeps, tmp_path):
    """Spans of this process (in memory) and of the worker (its file, on a real broker)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.set_provider(provider)
    span_file = tmp_path / "worker-spans.jsonl"
    if uses_real_broker():
        request.getfixturevalue("worker_process_factory")(
            DURABLE_WORKFLOW_MODULES=TRACED_MODULES, **{SPAN_FILE: str(span_file)}
        )
    else:
        request.getfixturevalue("worker")

    def collected() -> list[dict]:
        here = [span_record(span) for span in exporter.get_finished_spans()]
        there = span_file.read_text().splitlines() if span_file.exists() else []
        return here + [json.loads(line) for line in there]

    yield collected
    tracing.set_provider(None)


@pytest.fixture
def durable(db):
    from tests.support import traced_workflows  # noqa: F401 - registers the workflows
    from workflows.client import DurableClient

    return DurableClient()


def api_client() -> APIClient:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("tracer", "tracer@example.com", None)
    grant(user, *CODENAMES)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return api


def named(spans: list[dict], name: str) -> list[dict]:
    return [span for span in spans if span["name"] == name]


def test_one_trace_from_the_request_through_every_step(spans, durable):
    answer = api_client().post(
        "/api/v1/instances/",
        {"name": "t_traced", "input": 10, "business_key": "order-7"},
        format="json",
        HTTP_TRACEPARENT=f"00-{TRACE_ID}-{CALLER_SPAN}-01",
    )
    assert answer.status_code == 202, answer.content
    iid = answer.json()["id"]
    state = durable.wait_for_completion(iid, timeout=60)
    assert state.status == "completed", state.failure
    assert state.output == [12, 1, 12, 24]
    # The last episode's span ends just after its commit: wait for it.
    wait_until(
        lambda: (
            named(spans(), "durable.entity t_traced_counter")
            and any(
                s["attributes"].get("durable.status") == "completed"
                for s in named(spans(), "durable.episode t_traced")
            )
        ),
        what="the worker's spans",
    )
    found = spans()

    assert {span["trace_id"] for span in found} == {TRACE_ID}, "one trace, the caller's"
    (start,) = named(found, "durable.start t_traced")
    assert start["parent_id"] == CALLER_SPAN
    assert start["attributes"]["durable.instance_id"] == iid

    episodes = named(found, "durable.episode t_traced")
    assert len(episodes) >= 3
    for episode in episodes:
        assert episode["parent_id"] == start["span_id"]
        attributes = episode["attributes"]
        assert attributes["durable.instance_id"] == iid
        assert attributes["durable.business_key"] == "order-7"
        assert (attributes["durable.orchestrator"], attributes["durable.version"]) == (
            "t_traced",
            1,
        )

    attempts = sorted(
        named(found, "durable.activity t_traced_flaky"),
        key=lambda span: span["attributes"]["durable.attempt"],
    )
    assert [a["attributes"]["durable.attempt"] for a in attempts] == [1, 2]
    assert all(a["parent_id"] == start["span_id"] for a in attempts)
    failed, succeeded = attempts
    assert failed["status"] == "ERROR" and succeeded["status"] == "UNSET"
    (error,) = failed["events"]
    assert error["name"] == "exception"
    assert error["attributes"]["exception.type"].endswith("ConnectionError")
    assert "exception.message" not in error["attributes"]  # a payload: not by default

    # The child started inside one of the parent's episodes: its spans hang below it.
    episode_ids = {episode["span_id"] for episode in episodes}
    child_episodes = named(found, "durable.episode t_chain")
    assert child_episodes
    child_parents = {span["parent_id"] for span in child_episodes}
    assert len(child_parents) == 1 and child_parents <= episode_ids
    child_steps = named(found, "durable.activity t_add")
    assert len(child_steps) == 2 and {s["parent_id"] for s in child_steps} == child_parents

    (batch,) = named(found, "durable.entity t_traced_counter")
    assert batch["parent_id"] == start["span_id"]
    assert batch["events"][0]["attributes"]["durable.sender"] == iid

    (on_the_loop,) = named(found, "durable.activity t_traced_async")
    assert on_the_loop["parent_id"] == start["span_id"] and on_the_loop["status"] == "UNSET"

    if uses_real_broker():  # the episodes ran in the worker process, linked all the same
        assert {span["pid"] for span in episodes} != {os.getpid()}


def test_tracing_off_stores_no_context_and_records_no_span(durable):
    assert not tracing.enabled()
    assert tracing.current_context() is None
    iid = durable.start("t_chain", 1)
    from workflows.models import InboxMessage

    (started,) = InboxMessage.objects.filter(instance__instance_id=iid)
    assert started.payload["trace_context"] is None
    assert started.instance.trace_context is None
    assert history(iid) == []


@pytest.fixture
def provider():
    """Tracing on in this process, spans kept in memory (no worker)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.set_provider(provider)
    yield exporter
    tracing.set_provider(None)


def started_traced(durable) -> Instance:
    iid = durable.start("t_chain", 1)
    tracing._contexts.clear()  # as another process would: nothing cached
    return Instance.objects.get(instance_id=iid)


def test_the_context_is_read_from_the_instance_row_not_the_start_payload(provider, durable):
    # The payload may be encrypted, or offloaded with a large input: not loaded for this.
    inst = started_traced(durable)
    assert inst.trace_context["traceparent"].startswith("00-")
    with CaptureQueriesContext(connection) as queries:
        assert tracing.instance_context(inst.pk, inst.execution_id) == inst.trace_context
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert len(queries.captured_queries) == 1
    assert "historyevent" not in tables and "inboxmessage" not in tables


def test_another_execution_of_the_instance_does_not_get_this_ones_context(provider, durable):
    # After continue-as-new, a late attempt of the old execution must not link (and cache)
    # the new execution's start, still in the inbox, as its own.
    inst = started_traced(durable)
    assert tracing.instance_context(inst.pk, "an-older-execution") is None


def test_an_instance_without_the_column_falls_back_to_its_start_payload(provider, durable):
    inst = started_traced(durable)  # as if started before the column existed
    Instance.objects.filter(pk=inst.pk).update(trace_context=None)
    assert tracing.instance_context(inst.pk, inst.execution_id) == inst.trace_context


FAILURE = {"type": "billing.CardDeclined", "message": "card 4111 declined", "traceback": "..."}


def failure_event(exporter) -> tuple[object, dict]:
    with tracing._span("durable.activity t", None, {}) as span:
        tracing._record_failure(span, FAILURE)
    (finished,) = exporter.get_finished_spans()
    (event,) = finished.events
    return finished.status, dict(event.attributes)


def test_a_failure_exports_its_type_only_by_default(provider):
    status, attributes = failure_event(provider)
    assert attributes == {"exception.type": "billing.CardDeclined"}
    assert "4111" not in str(status.description)


def test_failure_messages_are_exported_when_the_setting_says_so(provider, settings):
    settings.DURABLE_TRACE_FAILURE_MESSAGES = True
    status, attributes = failure_event(provider)
    assert attributes == {
        "exception.type": "billing.CardDeclined",
        "exception.message": "card 4111 declined",
        "exception.stacktrace": "...",
    }
    assert status.description == "card 4111 declined"


def test_attributes_without_a_value_are_left_out():
    inst = Instance(instance_id="i-1", execution_id="e-1", name="t", version=None)
    attributes = tracing._instance_attributes(inst)
    assert None not in attributes.values()
    assert "durable.business_key" not in attributes and "durable.version" not in attributes
