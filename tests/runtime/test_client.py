"""DurableClient refuses bad requests with a clear error, and a refusal changes nothing."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

import pytest

from tests.support.checks import instance, snapshot
from tests.support.driver import drive
from workflows.client import (
    InstanceExists,
    InstanceFinished,
    InstanceNotFound,
    InvalidInput,
    InvalidState,
    UnknownOrchestratorError,
)
from workflows.models import (
    ActivityTask,
    AuditEntry,
    ExternalEvent,
    HistoryEvent,
    InboxMessage,
    Instance,
    Timer,
)

pytestmark = pytest.mark.integration


def database_state() -> dict:
    """Every row the runtime writes, as plain values."""
    models = (Instance, HistoryEvent, InboxMessage, ActivityTask, Timer, ExternalEvent, AuditEntry)
    return {m.__name__: sorted(map(repr, m.objects.values_list())) for m in models}


@contextmanager
def refused(error: type[Exception], *words: str):
    """The block raises ``error`` naming ``words``, and the database stays as it was."""
    before = database_state()
    with pytest.raises(error) as caught:
        yield
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert database_state() == before


@pytest.fixture
def finished(client):
    iid = client.start("t_chain", 2)
    drive()
    assert client.get_status(iid).status == "completed"
    return iid


@pytest.fixture
def waiting(client):
    iid = client.start("t_wait_event", 0)
    drive()
    assert client.get_status(iid).status == "running"
    return iid


@pytest.mark.parametrize(
    "bad_id",
    ["", " padded", "has space", "a/b", "-leading-dash", "x" * 201, "tab\t", "nul\x00", 42, None],
)
def test_a_bad_instance_id_is_refused(client, bad_id):
    if bad_id is None:  # None means "generate one": not an error
        assert client.start("t_chain", 1, instance_id=None)
        return
    with refused(InvalidInput, "instance id"):
        client.start("t_chain", 1, instance_id=bad_id)
    with refused((InvalidInput, InstanceNotFound)):
        client.get_status(bad_id)


def test_an_oversized_payload_is_refused(client, settings, waiting):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 1000
    with refused(InvalidInput, "1000 bytes", "DURABLE_MAX_PAYLOAD_BYTES"):
        client.start("t_chain", {"blob": "x" * 2000})
    with refused(InvalidInput, "DURABLE_MAX_PAYLOAD_BYTES"):
        client.raise_event(waiting, "approve", ["y" * 600, "z" * 600])
    # right at the limit is fine
    assert client.start("t_chain", "x" * 998)


@pytest.mark.parametrize(
    "payload", [{1, 2}, datetime(2026, 1, 1), float("nan"), {"text": "nul\x00"}, object()]
)
def test_a_payload_that_cannot_be_stored_is_refused(client, payload):
    with refused(InvalidInput):
        client.start("t_chain", payload)


def test_an_unknown_orchestrator_is_refused(client):
    with refused(UnknownOrchestratorError, "nope", "t_chain"):
        client.start("nope", 1)
    with refused(UnknownOrchestratorError, "version 7"):
        client.start("t_chain", 1, version=7)


def test_starting_an_id_that_is_running_is_refused(client, waiting):
    original = instance(waiting)
    with refused(InstanceExists, waiting, "running"):
        client.start("t_chain", 5, instance_id=waiting)
    current = instance(waiting)
    assert (current.name, current.execution_id, current.input) == (
        original.name,
        original.execution_id,
        original.input,
    )


def test_a_finished_instance_id_may_be_started_again(client, finished):
    old = instance(finished)
    assert client.start("t_chain", 3, instance_id=finished) == finished
    new = instance(finished)
    assert new.pk != old.pk and new.status == "pending" and new.input == 3
    assert not HistoryEvent.objects.filter(instance_id=old.pk).exists()


def test_an_event_to_a_finished_instance_is_refused(client, finished):
    with refused(InstanceFinished, finished, "completed"):
        client.raise_event(finished, "approve", 1)
    with refused(InstanceFinished):
        client.raise_event(finished, "approve", 1, event_id="once")


def test_terminating_a_finished_instance_is_refused(client, finished):
    before = snapshot(finished)
    with refused(InstanceFinished, finished, "terminate"):
        client.terminate(finished, "too late")
    assert snapshot(finished) == before
    assert client.get_status(finished).status == "completed"


def test_operations_in_the_wrong_state_are_refused(client, waiting, finished):
    with refused(InvalidState, "not suspended"):
        client.resume(waiting)
    with refused(InvalidState, "suspended"):
        client.suspend(finished)
    with refused(InvalidState, "purged"):
        client.purge(waiting)
    client.suspend(waiting)
    with refused(InvalidState):
        client.suspend(waiting)


def test_an_unknown_instance_is_reported(client):
    for call in (
        lambda: client.get_status("missing"),
        lambda: client.raise_event("missing", "approve", 1),
        lambda: client.terminate("missing"),
        lambda: client.suspend("missing"),
        lambda: client.resume("missing"),
        lambda: client.purge("missing"),
    ):
        with refused(InstanceNotFound, "missing"):
            call()


def test_a_bad_event_name_is_refused(client, waiting):
    for name in ("", "has space", "x" * 201, None, "durable:approval"):
        with refused(InvalidInput):
            client.raise_event(waiting, name, 1)


def test_an_instance_of_another_hub_is_not_found(client, waiting):
    from tests.support.checks import other_hub
    from workflows.client import DurableClient

    other = DurableClient(hub=other_hub())
    with refused(InstanceNotFound):
        other.get_status(waiting)
    with refused(InstanceNotFound):
        other.terminate(waiting)


def test_the_client_applies_the_shared_payload_rules(client, waiting, settings):
    """The same rules as the API (workflows.rules): nesting, and a 413-class for size."""
    from workflows.rules import InputTooLarge

    deep: list = []
    for _ in range(150):
        deep = [deep]
    with refused(InvalidInput, "input", "nested deeper than 100"):
        client.start("t_chain", deep)
    with refused(InvalidInput, "event data", "unpaired surrogate"):
        client.raise_event(waiting, "approve", {"text": "\ud800"})
    settings.DURABLE_MAX_PAYLOAD_BYTES = 100
    with refused(InputTooLarge, "event data", "100 bytes"):
        client.raise_event(waiting, "approve", "x" * 200)


@pytest.mark.parametrize(
    ("reason", "words"),
    [("nul\x00", "NUL character"), ("x" * 1001, "at most 1000"), (7, "must be text")],
)
def test_a_reason_that_cannot_be_stored_is_refused_before_anything_changes(
    client, waiting, finished, reason, words
):
    for call in (
        lambda: client.suspend(waiting, reason),
        lambda: client.terminate(waiting, reason),
        lambda: client.restart(finished, reason=reason),
    ):
        with refused(InvalidInput, "reason", words):
            call()
    assert client.get_status(waiting).status == "running"


def test_a_business_key_that_cannot_be_stored_is_refused(client):
    with refused(InvalidInput, "business key", "NUL"):
        client.start("t_chain", 1, business_key="EXP\x00-7")
    with refused(InvalidInput, "business key", "201 characters"):
        client.start("t_chain", 1, business_key="k" * 201)


@pytest.mark.parametrize("cursor", ["abc", "-1", "9" * 30, "1.5"])
def test_a_bad_cursor_is_refused_saying_what_to_pass(client, cursor):
    with refused(InvalidInput, "next_cursor"):
        client.query(cursor=cursor)
