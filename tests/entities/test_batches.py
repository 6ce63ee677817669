"""Applying queued operations: in order, many per commit, each exactly once."""

from __future__ import annotations

import pytest

from workflows.engine.errors import InvalidInput, NotAllowed
from workflows.entities.batches import run_entity
from workflows.entities.models import EntityOperation, EntityOperationLog

pytestmark = pytest.mark.django_db(transaction=True)


def test_queued_signals_apply_in_order_in_one_batch(client, entity_row):
    for n in range(30):
        client.signal_entity(("t_log", "a"), "append", n)
    row = entity_row("t_log", "a")
    report = client.run_entity_batch(row.pk)
    row.refresh_from_db()
    assert report.applied == 30
    assert row.state == list(range(30))
    assert row.version == 1  # loaded and saved once for the 30 operations
    assert not EntityOperation.objects.filter(entity=row).exists()
    assert EntityOperationLog.objects.filter(entity=row).count() == 30


def test_a_second_wake_up_applies_nothing(client, entity_row):
    client.signal_entity(("t_log", "a"), "append", 1)
    row = entity_row("t_log", "a")
    run_entity(row.pk, row.task_hub)
    assert run_entity(row.pk, row.task_hub).applied == 0
    row.refresh_from_db()
    assert row.state == [1] and row.version == 1


def test_a_batch_that_crashes_before_commit_changes_nothing(client, entity_row, monkeypatch):
    from workflows.entities import batches

    for n in range(3):
        client.signal_entity(("t_log", "a"), "append", n)
    row = entity_row("t_log", "a")

    def crash(*_args):
        raise KeyboardInterrupt("worker dies mid-batch")

    monkeypatch.setattr(batches, "_log", crash)  # after the state was saved
    with pytest.raises(KeyboardInterrupt):
        run_entity(row.pk, row.task_hub)
    monkeypatch.undo()
    row.refresh_from_db()
    assert row.state is None and row.version == 0
    assert EntityOperation.objects.filter(entity=row).count() == 3
    run_entity(row.pk, row.task_hub)
    row.refresh_from_db()
    assert row.state == [0, 1, 2]


def test_a_failing_operation_leaves_the_state_and_sends_nothing(client, entity_row):
    client.signal_entity(("t_log", "a"), "append", "x")
    client.signal_entity(("t_log", "a"), "boom", 1)
    client.signal_entity(("t_log", "a"), "append", "y")
    row = entity_row("t_log", "a")
    run_entity(row.pk, row.task_hub)
    row.refresh_from_db()
    assert row.state == ["x", "y"]
    assert entity_row("t_log", "echo") is None
    failed = EntityOperationLog.objects.get(entity=row, ok=False)
    assert "boom 1" in failed.error


def test_signals_between_entities_go_out_with_the_batch(client, entity_row):
    client.signal_entity(("t_log", "hub"), "fan", ["b", "c"])
    row = entity_row("t_log", "hub")
    run_entity(row.pk, row.task_hub)
    b = entity_row("t_log", "b")
    run_entity(b.pk, b.task_hub)
    b.refresh_from_db()
    assert b.state == ["hub"]
    assert EntityOperationLog.objects.get(entity=b).sender == "@t_log@hub"


def test_signal_id_deduplicates_before_and_after_applying(client, entity_row):
    assert client.signal_entity(("t_log", "a"), "append", 1, signal_id="s-1")
    assert not client.signal_entity(("t_log", "a"), "append", 1, signal_id="s-1")
    row = entity_row("t_log", "a")
    run_entity(row.pk, row.task_hub)
    assert not client.signal_entity(("t_log", "a"), "append", 1, signal_id="s-1")
    run_entity(row.pk, row.task_hub)
    row.refresh_from_db()
    assert row.state == [1]


def test_bad_signals_are_refused_and_change_nothing(client, entity_row, django_user_model):
    with pytest.raises(InvalidInput, match="No entity 'nope'"):
        client.signal_entity(("nope", "a"), "append", 1)
    with pytest.raises(InvalidInput, match="has no operation 'steal'"):
        client.signal_entity(("t_log", "a"), "steal", 1)
    with pytest.raises(InvalidInput, match="entity key"):
        client.signal_entity(("t_log", ""), "append", 1)
    with pytest.raises(InvalidInput, match="not JSON"):
        client.signal_entity(("t_log", "a"), "append", {1, 2})
    user = django_user_model.objects.create_user("nobody")
    with pytest.raises(NotAllowed, match="entities.signal_entity"):
        client.signal_entity(("t_log", "a"), "append", 1, by=user)
    assert entity_row("t_log", "a") is None


def test_state_over_the_payload_limit_is_refused(client, entity_row, settings):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 300
    client.signal_entity(("t_log", "a"), "append", "x" * 100)
    client.signal_entity(("t_log", "a"), "append", "y" * 250)
    row = entity_row("t_log", "a")
    run_entity(row.pk, row.task_hub)
    row.refresh_from_db()
    assert row.state == ["x" * 100]
    assert "DURABLE_MAX_PAYLOAD_BYTES" in EntityOperationLog.objects.get(ok=False).error
