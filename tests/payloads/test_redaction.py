"""Log lines quote a failure's message only while payloads are stored in clear text."""

from __future__ import annotations

import logging

import pytest

from tests.support import workflows  # noqa: F401 - registers t_non_retryable
from tests.support.checks import instance
from tests.support.episodes import run_episode
from workflows.client import DurableClient
from workflows.engine import FailureDetails
from workflows.models import ActivityTask
from workflows.payloads.redaction import failure_for_log
from workflows.runtime.activities import execute_task

FAILURE = FailureDetails("builtins.ValueError", "card 4111 declined", "Traceback ...")


def test_the_message_is_logged_while_payloads_are_stored_in_clear():
    assert failure_for_log(FAILURE) == "ValueError: card 4111 declined"


def test_the_type_alone_once_the_codec_encrypts_payloads(encrypted):
    assert failure_for_log(FAILURE) == "ValueError"


@pytest.mark.parametrize(
    ("codec", "chosen", "shown"),
    [("", "0", "ValueError"), ("aesgcm", "1", "ValueError: card 4111 declined")],
)
def test_the_setting_decides_either_way(encrypted, codec, chosen, shown):
    encrypted.DURABLE_PAYLOAD_CODEC = codec
    encrypted.DURABLE_LOG_FAILURE_MESSAGES = chosen
    assert failure_for_log(FAILURE) == shown


def test_a_failed_attempt_logs_no_message_with_the_codec_on(encrypted, db, caplog):
    iid = DurableClient().start("t_non_retryable", None)
    assert run_episode(instance(iid).pk)
    task = ActivityTask.objects.get(instance=instance(iid))
    with caplog.at_level(logging.INFO, logger="workflows.runtime"):
        execute_task(task.pk)
    line = next(r.getMessage() for r in caplog.records if "activity t_broken" in r.getMessage())
    assert "failed (NonRetryableError)" in line
    assert "never works" not in caplog.text
