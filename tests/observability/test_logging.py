"""Structured runtime logs (instance id, execution id, business key) and the replay-safe logger."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.conf import settings

from tests.support.checks import wait_until
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


# -- log injection: one record is one line, whatever the input held ------------------------

FORGED = "charged\n2026-01-05 10:00:00 ERROR workflows.runtime: forged\r\x1b[2K"


def test_text_lines_escape_line_breaks_and_control_characters_in_the_message():
    """A business key or input with a newline forged a second log line."""
    line = render(StructuredFormatter("{levelname} {message}", style="{"), FORGED)

    assert line == (
        "ERROR charged\\n2026-01-05 10:00:00 ERROR workflows.runtime: forged\\r\\x1b[2K\n"
    )


def test_text_lines_escape_what_arguments_and_extra_fields_bring():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(StructuredFormatter("{levelname} {message}", style="{"))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.observability.args")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(
            "started %s", "SO-1\u2028next", extra={"business_key": "SO-1\nx", "who": "a\x85\x7fb"}
        )
    finally:
        logger.removeHandler(handler)

    assert out.getvalue() == (
        'WARNING started SO-1\\u2028next business_key="SO-1\\nx" who="a\\x85\\x7fb"\n'
    )


def test_text_lines_write_a_lone_surrogate_as_an_escape_not_a_logging_error():
    """Unencodable text made the handler print "--- Logging error ---" instead of the line."""
    line = render(StructuredFormatter("{message}", style="{"), "key \udc80 end")

    assert line == "key \\udc80 end\n"
    line.encode("utf-8")  # what the stream will do


def test_text_lines_still_put_a_traceback_below_the_escaped_line():
    text = render(StructuredFormatter("{message}", style="{"), "exc a\nb", **log_context(ORDER))

    first, *rest = text.splitlines()
    assert first == 'exc a\\nb instance_id=order-7 execution_id=e1 business_key="SO 1001"'
    assert rest[0].startswith("Traceback") and rest[-1] == "ValueError: boom"


def test_json_lines_stay_one_valid_line_holding_the_exact_message():
    message = FORGED + " \u2028 \x85 \udc80"
    text = render(JsonFormatter(), message, key="v\u2029", ratio=float("nan"), big=float("inf"))

    assert text.count("\n") == 1 and text.endswith("\n")
    assert len(text.splitlines()) == 1  # no U+2028, U+0085, ... that splitlines() splits at
    text.encode("utf-8")
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert data["message"] == message  # escaped in the line, exact once read
    assert (data["key"], data["ratio"], data["big"]) == ("v\u2029", "nan", "inf")


def test_the_installed_formatter_keeps_a_request_path_with_a_newline_on_one_line():
    """Django logs a 404 with the decoded path: /nope%0AERROR... holds a real newline."""
    formatter = logging.getLogger("django").handlers[0].formatter
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/nope\nERROR x",), None
    )

    line = formatter.format(record)

    assert "\n" not in line
    assert "/nope\\nERROR x" in line


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

    def runtime_lines(start: str) -> list[logging.LogRecord]:
        return [
            r for r in records if r.name == "workflows.runtime" and r.getMessage().startswith(start)
        ]

    # The line is logged after the episode's commit, which the client may see first.
    [finished] = wait_until(
        lambda: runtime_lines("orchestration tv_fan_out"), what="the orchestration's log line"
    )
    activities = runtime_lines("activity tv_step")
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
