"""DurableClient refuses bad requests with a clear error, and a refusal changes nothing."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.support.checks import instance, snapshot
from tests.support.driver import drive
from workflows.client import (
    FinishedInstanceExists,
    InstanceExists,
    InstanceFinished,
    InstanceNotFound,
    InvalidInput,
    InvalidState,
    NotAllowed,
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


@pytest.mark.parametrize("payload", [{1, 2}, b"raw", float("nan"), {"text": "nul\x00"}, object()])
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


@pytest.fixture
def people(django_user_model):
    """``people["starter"]`` holds start_instance only; ``people["operator"]`` also
    operate_instance."""
    from django.contrib.auth.models import Permission

    def person(username: str, *codenames: str):
        user = django_user_model.objects.create_user(username)
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames)
        )
        return django_user_model.objects.get(pk=user.pk)  # a fresh permission cache

    return {
        "starter": person("stella", "start_instance"),
        "operator": person("otis", "start_instance", "operate_instance"),
    }


def test_a_finished_instance_id_is_not_replaced_without_replace(client, finished, people):
    """Reusing the id would delete the finished instance, its input and history: the client
    refuses unless told to replace, whoever asks."""
    for by in (None, "cli", people["starter"], people["operator"]):
        with refused(FinishedInstanceExists, finished, "completed", "replace", "operator"):
            client.start("t_chain", 3, instance_id=finished, by=by)
    assert instance(finished).input == 2


def test_replacing_needs_the_operate_permission(client, finished, people):
    with refused(NotAllowed, finished, "workflows.operate_instance"):
        client.start("t_chain", 3, instance_id=finished, by=people["starter"], replace=True)
    assert instance(finished).status == "completed"


def test_a_replacement_starts_afresh_and_is_audited_with_the_old_execution(
    client, finished, people
):
    old = instance(finished)

    assert (
        client.start("t_chain", 3, instance_id=finished, by=people["operator"], replace=True)
        == finished
    )

    new = instance(finished)
    assert new.pk != old.pk and new.status == "pending" and new.input == 3
    assert not HistoryEvent.objects.filter(instance_id=old.pk).exists()
    entry = AuditEntry.objects.get(instance=new)
    assert (entry.action, entry.user, entry.actor) == ("replace", people["operator"], "otis")
    assert entry.detail["replaced_execution_id"] == old.execution_id
    assert entry.detail["replaced_status"] == "completed"
    assert entry.created_at is not None


def test_code_in_this_process_may_replace(client, finished):
    """by=None (or a text actor like "cli") is code running here, not a web user."""
    old = instance(finished)
    assert client.start("t_chain", 4, instance_id=finished, replace=True) == finished
    entry = AuditEntry.objects.get(action="replace")
    assert (entry.actor, entry.detail["replaced_execution_id"]) == ("system", old.execution_id)


def test_replace_with_an_unused_id_just_starts(client, people):
    assert client.start("t_chain", 1, instance_id="fresh-1", by=people["starter"], replace=True)
    assert AuditEntry.objects.get(instance_ref="fresh-1").action == "start"


def test_a_start_by_someone_is_audited_with_who_started_it(client, people):
    iid = client.start("t_chain", 1, business_key="po-1", by=people["starter"])
    client.start("t_chain", 1, instance_id="by-cli", by="cli")

    entry = AuditEntry.objects.get(instance_ref=iid)
    assert (entry.action, entry.user, entry.actor) == ("start", people["starter"], "stella")
    assert entry.detail == {"name": "t_chain", "version": 1}
    assert AuditEntry.objects.get(instance_ref="by-cli").actor == "cli"


def test_restart_is_audited_with_the_execution_it_replaced(client, finished, people):
    old = instance(finished)

    client.restart(finished, by=people["operator"], reason="after the fix")

    entry = AuditEntry.objects.get(action="restart")
    assert entry.note == "after the fix"
    assert entry.detail["replaced_execution_id"] == old.execution_id
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["restart"]


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


def test_the_cli_refuses_a_finished_id_alike_and_replaces_only_with_replace(client, finished):
    """`durable start --id` gives the client's refusal; --replace replaces, audited as cli."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    old = instance(finished)
    with refused(CommandError, finished, "finished", "--replace"):
        call_command("durable", "start", "t_chain", "--id", finished, stdout=StringIO())

    call_command("durable", "start", "t_chain", "--id", finished, "--replace", stdout=StringIO())

    entry = AuditEntry.objects.get(action="replace")
    assert (entry.actor, entry.detail["replaced_execution_id"]) == ("cli", old.execution_id)
    assert instance(finished).execution_id != old.execution_id


@pytest.mark.parametrize("instance_id", [None, "caller-tx-1"])
def test_a_start_inside_the_callers_transaction_is_undone_with_it(durable_client, instance_id):
    """A start from code inside the caller's own transaction (a view under ATOMIC_REQUESTS)
    commits nothing of it: the caller's rollback takes the new instance and whatever the
    caller wrote before. (The one-statement start commits by itself only outside any
    transaction.)"""
    from django.db import transaction

    from tests.support import workflows  # noqa: F401 - registers the test workflows

    started: list[str] = []
    with pytest.raises(RuntimeError), transaction.atomic():
        durable_client.start("t_chain", 1, instance_id="caller-tx-before")
        started.append(durable_client.start("t_chain", 3, instance_id=instance_id))
        raise RuntimeError("the caller changes its mind")
    assert not Instance.objects.filter(instance_id__in=[*started, "caller-tx-before"]).exists()
