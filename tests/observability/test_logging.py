"""Structured runtime logs (instance id, execution id, business key) and the replay-safe logger."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.conf import settings

from tests.support.observed import row
from workflows.logging import ContextFilter, JsonFormatter, StructuredFormatter, log_context
from workflows.models import Instance
from workflows.runtime.cache import sticky_cache


def render(formatter: logging.Formatter, message: str, **extra) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.observability.render")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logger.error(message, extra=extra, exc_info="exc" in message)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


ORDER = Instance(instance_id="order-7", execution_id="e1", business_key="SO 1001")


def test_text_lines_end_with_the_context_and_other_extra_fields():
    line = render(
        StructuredFormatter("{levelname} {message}", style="{"),
        "charged",
        **log_context(ORDER, attempt=2),
    )
    plain = render(StructuredFormatter("{levelname} {message}", style="{"), "no instance here")

    assert (
        line
        == 'ERROR charged instance_id=order-7 execution_id=e1 business_key="SO 1001" attempt=2\n'
    )
    assert plain == "ERROR no instance here\n"


def test_text_lines_keep_the_traceback_below_the_fields():
    text = render(StructuredFormatter("{message}", style="{"), "exc raised", **log_context(ORDER))

    first, *rest = text.splitlines()
    assert first.startswith("exc raised instance_id=order-7")
    assert rest[0].startswith("Traceback") and rest[-1] == "ValueError: boom"


def test_json_lines_carry_the_fields():
    text = render(JsonFormatter(), "exc charged %s", **log_context(ORDER, amount=12.5))

    data = json.loads(text)
    assert data["message"] == "exc charged %s"
    assert (data["instance_id"], data["execution_id"], data["business_key"]) == (
        "order-7",
        "e1",
        "SO 1001",
    )
    assert data["amount"] == 12.5 and data["level"] == "ERROR"
    assert "ValueError: boom" in data["exception"]


def test_settings_install_the_formatter_and_the_filter():
    handler = logging.getLogger("workflows").handlers[0]

    assert settings.LOGGING["handlers"]["console"]["formatter"] in {"text", "json"}
    assert isinstance(handler.formatter, StructuredFormatter | JsonFormatter)
    assert any(isinstance(f, ContextFilter) for f in handler.filters)


@pytest.mark.integration
def test_runtime_log_lines_name_instance_execution_and_business_key(
    worker, durable_client, records
):
    iid = durable_client.start("tv_fan_out", 3, business_key="SO-42")
    assert durable_client.wait_for_completion(iid, timeout=30).status == "completed"
    execution = row(iid).execution_id

    runtime = [r for r in records if r.name == "workflows.runtime"]
    activities = [r for r in runtime if r.getMessage().startswith("activity tv_step")]
    [finished] = [r for r in runtime if r.getMessage().startswith("orchestration tv_fan_out")]
    assert len(activities) == 3
    for record in [*activities, finished]:
        assert (record.instance_id, record.execution_id, record.business_key) == (
            iid,
            execution,
            "SO-42",
        )
    assert "completed" in finished.getMessage()


@pytest.mark.integration
def test_orchestrator_logger_is_silent_on_replay(worker, durable_client, records):
    cache = sticky_cache()
    size, cache.size = cache.size, 0  # keep nothing in memory: every episode replays
    misses = cache.misses
    try:
        iid = durable_client.start("tv_logged", 3)
        assert durable_client.wait_for_completion(iid, timeout=30).status == "completed"
    finally:
        cache.size = size

    logged = [r for r in records if r.name == "workflows.orchestrator"]
    assert [r.getMessage() for r in logged] == [
        f"[{iid}] tv_logged reached step 1",
        f"[{iid}] tv_logged reached step 2",
        f"[{iid}] tv_logged reached step 3",
    ]
    assert {r.instance_id for r in logged} == {iid}
    assert cache.misses - misses >= 4  # four episodes, each replayed the whole history
