"""The operation itself: fixed targets, chunks, crash safety, cancel, dry run, refusals and
permissions (DurableClient's bulk methods, no worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from tests.bulk.conftest import audit_of
from workflows.bulk import chunks
from workflows.client import DurableClient
from workflows.engine.errors import InvalidInput, InvalidState, NotAllowed
from workflows.models import AuditEntry, BulkItem, BulkOperation, HistoryEvent, Instance
from workflows.runtime import bulk_wakeups

pytestmark = pytest.mark.django_db


def terminated(ids: list[str]) -> int:
    return Instance.objects.filter(instance_id__in=ids, status="terminated").count()


def test_the_targets_are_fixed_when_the_operation_starts(client, make_instances, operator, run_all):
    before = make_instances(3, "running", prefix="before")
    op = client.start_bulk("terminate", filter={"status": ["running"]}, reason="r", by=operator)
    later = make_instances(2, "running", prefix="later")

    state = run_all(op.id)

    assert (state.matched, state.done) == (3, 3)
    assert terminated(before) == 3 and terminated(later) == 0


def test_each_chunk_is_one_transaction_of_at_most_chunk_size_targets(
    client, make_instances, operator
):
    ids = make_instances(25, "running")
    op = client.start_bulk(
        "terminate", filter={"status": ["running"]}, reason="r", by=operator, chunk_size=10
    )

    first = client.run_bulk_chunk(op.id)

    assert (first.ran, first.processed, first.more) == (True, 10, True)
    assert terminated(ids) == 10
    assert terminated(ids[:10]) == 10  # in instance order
    state = client.bulk_operation(op.id)
    assert (state.status, state.done, state.pending, state.chunks) == ("running", 10, 15, 1)
    client.run_bulk_chunk(op.id)
    last = client.run_bulk_chunk(op.id)
    assert (last.processed, last.more) == (5, False)
    assert client.bulk_operation(op.id).status == "completed"
    assert client.run_bulk_chunk(op.id).ran is False  # a late duplicate message: nothing


def test_a_crash_in_a_chunk_changes_nothing_and_the_rerun_applies_each_action_once(
    client, make_instances, operator, run_all, monkeypatch
):
    ids = make_instances(30, "running")
    op = client.start_bulk(
        "terminate", filter={"status": ["running"]}, reason="r", by=operator, chunk_size=20
    )
    real = DurableClient._apply_bulk
    calls = []

    def crash_on_the_fifteenth(self, operation, item):
        calls.append(item.target)
        if len(calls) == 15:
            raise SystemExit("the worker died")  # not an Exception: nothing catches it
        return real(self, operation, item)

    monkeypatch.setattr(DurableClient, "_apply_bulk", crash_on_the_fifteenth)
    with pytest.raises(SystemExit):
        client.run_bulk_chunk(op.id)
    assert terminated(ids) == 0  # the 14 terminations before the crash were rolled back
    assert BulkItem.objects.filter(operation_id=op.id, status="pending").count() == 30

    monkeypatch.setattr(DurableClient, "_apply_bulk", real)
    state = run_all(op.id)

    assert (state.done, state.skipped, state.failed) == (30, 0, 0)
    for iid in ids:
        kinds = list(
            HistoryEvent.objects.filter(instance__instance_id=iid).values_list("kind", flat=True)
        )
        assert kinds.count("execution_terminated") == 1
        assert audit_of(iid) == [("terminate", op.id, "r")]


def test_an_unexpected_error_fails_one_target_and_the_others_go_on(
    client, make_instances, operator, run_all, monkeypatch
):
    ids = make_instances(3, "running")
    real = DurableClient.suspend

    def broken_for_one(self, instance_id, reason="", by=None):
        if instance_id == ids[1]:
            raise RuntimeError("disk on fire")
        return real(self, instance_id, reason, by=by)

    monkeypatch.setattr(DurableClient, "suspend", broken_for_one)
    op = client.start_bulk("suspend", instance_ids=ids, reason="r", by=operator)
    state = run_all(op.id)

    assert (state.done, state.failed) == (2, 1)
    item = BulkItem.objects.get(operation_id=op.id, target=ids[1])
    assert (item.status, item.reason) == ("failed", "RuntimeError: disk on fire")


def test_a_deadlock_rolls_the_chunk_back_and_runs_it_again(
    client, make_instances, operator, run_all, monkeypatch
):
    ids = make_instances(4, "running")
    op = client.start_bulk("terminate", instance_ids=ids, reason="r", by=operator)
    sent = []
    monkeypatch.setattr(chunks, "send_now", lambda pk, hub, delay_ms=None: sent.append(delay_ms))
    real = DurableClient._apply_bulk

    def deadlock(self, operation, item):
        real(self, operation, item)
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(DurableClient, "_apply_bulk", deadlock)
    assert client.run_bulk_chunk(op.id).ran is False
    assert sent == [chunks.RETRY_MS]
    assert terminated(ids) == 0

    monkeypatch.setattr(DurableClient, "_apply_bulk", real)
    assert run_all(op.id).done == 4


def test_cancel_stops_before_the_next_chunk(client, make_instances, operator, run_all):
    ids = make_instances(30, "running")
    op = client.start_bulk(
        "terminate", filter={"status": ["running"]}, reason="r", by=operator, chunk_size=10
    )
    client.run_bulk_chunk(op.id)

    state = client.cancel_bulk(op.id, by=operator, reason="wrong filter")

    assert (state.status, state.done, state.cancelled, state.cancelled_by) == (
        "cancelled",
        10,
        20,
        "olga",
    )
    assert client.run_bulk_chunk(op.id).ran is False
    assert terminated(ids) == 10
    items = client.bulk_outcomes(op.id, status="cancelled", limit=500).items
    assert len(items) == 20 and items[0].reason == "wrong filter"
    with pytest.raises(InvalidState, match="only a running one can be cancelled"):
        client.cancel_bulk(op.id, by=operator)
    entry = AuditEntry.objects.get(action="bulk_cancel")
    assert (entry.user, entry.note, entry.detail["bulk_operation"]) == (
        operator,
        "wrong filter",
        op.id,
    )


def test_a_dry_run_counts_and_samples_without_changing_anything(client, make_instances, operator):
    make_instances(4, "running", prefix="run", key="EU")
    make_instances(2, "failed", prefix="failed", key="EU")
    make_instances(3, "running", prefix="other", key="US")

    preview = client.preview_bulk(
        "rewind", filter={"business_key": "EU", "status": ["running", "failed"]}, user=operator
    )

    assert (preview.matched, preview.allowed) == (6, 2)
    assert preview.by_status == {"running": 4, "failed": 2}
    assert [row["instance_id"] for row in preview.sample] == [
        *(f"run-{n:05d}" for n in range(4)),
        *(f"failed-{n:05d}" for n in range(2)),
    ]
    listed = client.preview_bulk("terminate", instance_ids=["run-00000", "nope"], user=operator)
    assert (listed.matched, listed.unknown) == (1, ["nope"])
    assert not BulkOperation.objects.exists()
    assert not AuditEntry.objects.exists()


def test_the_search_filter_matches_what_the_console_lists(client, make_instances, operator):
    make_instances(2, "running", prefix="alpha", key="KEY-9")
    make_instances(2, "running", prefix="beta")
    shown = client.query(search="key-9", limit=500).items

    preview = client.preview_bulk("terminate", filter={"search": "key-9"}, user=operator)

    assert preview.matched == len(shown) == 2


def test_listed_ids_that_exist_nowhere_are_skipped_at_once(
    client, make_instances, operator, run_all
):
    ids = make_instances(1, "running")
    op = client.start_bulk(
        "terminate", instance_ids=[ids[0], "ghost", ids[0]], reason="r", by=operator
    )

    assert (op.matched, op.skipped) == (2, 1)  # the repeat is one target
    state = run_all(op.id)
    assert (state.done, state.skipped) == (1, 1)
    ghost = client.bulk_outcomes(op.id, status="skipped").items[0]
    assert (ghost.target, ghost.reason) == (
        "ghost",
        "No instance 'ghost' exists (in this task hub).",
    )


def test_a_filter_that_matches_nothing_finishes_at_once(client, operator):
    op = client.start_bulk("terminate", filter={"name": "nothing"}, reason="r", by=operator)

    assert (op.status, op.matched) == ("completed", 0)


def test_the_count_the_operator_confirmed_must_still_hold(client, make_instances, operator):
    make_instances(3, "running")

    with pytest.raises(InvalidState, match="now matches 3 target"):
        client.start_bulk(
            "terminate", filter={"status": ["running"]}, reason="r", by=operator, expected_count=2
        )
    assert not BulkOperation.objects.exists() and not BulkItem.objects.exists()
    op = client.start_bulk(
        "terminate", filter={"status": ["running"]}, reason="r", by=operator, expected_count=3
    )
    assert op.matched == 3


BAD = [
    ({"action": "explode", "filter": {}}, "Unknown bulk action 'explode'"),
    ({"action": "terminate", "filter": {"colour": "red"}}, "Unknown filter field 'colour'"),
    ({"action": "terminate", "filter": {"status": ["asleep"]}}, "Unknown status 'asleep'"),
    ({"action": "terminate", "filter": {"created_before": "yesterday"}}, "not an ISO 8601"),
    ({"action": "terminate", "filter": {"needs_attention": "yes"}}, "true or false"),
    ({"action": "terminate"}, "needs either a filter or instance_ids"),
    ({"action": "terminate", "filter": {}, "instance_ids": ["a"]}, "exactly one of them"),
    ({"action": "terminate", "compensation_ids": [1]}, "for the other kind of target"),
    ({"action": "terminate", "instance_ids": ["a b"]}, "Invalid instance id 'a b'"),
    ({"action": "terminate", "instance_ids": []}, "non-empty list"),
    ({"action": "compensation_skip", "compensation_ids": ["x"]}, "not a compensation record id"),
    ({"action": "terminate", "filter": {}, "reason": "  "}, "A reason is required"),
    ({"action": "compensation_skip", "filter": {}, "reason": ""}, "A note is required"),
    ({"action": "terminate", "filter": {}, "reason": "a\x00b"}, "NUL character"),
    ({"action": "raise_event", "filter": {}}, "raise_event needs event_name"),
    ({"action": "raise_event", "filter": {}, "event_name": "durable:x"}, "is reserved"),
    ({"action": "terminate", "filter": {}, "event_name": "go"}, "only for raise_event"),
    ({"action": "terminate", "filter": {}, "chunk_size": 0}, "chunk_size must be"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD, ids=[m for _a, m in BAD])
def test_bad_input_is_refused_naming_what_was_wrong_and_changes_nothing(
    client, make_instances, operator, arguments, message
):
    make_instances(2, "running")
    arguments = {"reason": "why", **arguments}

    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        client.start_bulk(arguments.pop("action"), by=operator, **arguments)
    assert not BulkOperation.objects.exists()
    assert Instance.objects.filter(status="running").count() == 2


def test_every_call_needs_the_operate_permission(client, make_instances, make_user, operator):
    make_instances(1, "running")
    viewer = make_user("victor", "view_instance", "raise_event")
    op = client.start_bulk("terminate", filter={}, reason="r", by=operator)

    for call in (
        lambda: client.start_bulk("terminate", filter={}, reason="r", by=viewer),
        lambda: client.preview_bulk("terminate", filter={}, user=viewer),
        lambda: client.bulk_operation(op.id, user=viewer),
        lambda: client.bulk_operations(user=viewer),
        lambda: client.bulk_outcomes(op.id, user=viewer),
        lambda: client.cancel_bulk(op.id, by=viewer),
    ):
        with pytest.raises(NotAllowed, match="workflows.operate_instance"):
            call()
    assert client.bulk_operation(op.id).status == "running"


def test_raise_event_also_needs_the_raise_event_permission(client, make_instances, make_user):
    make_instances(1, "running")
    operator = make_user("oscar", "operate_instance")

    with pytest.raises(NotAllowed, match="workflows.raise_event"):
        client.start_bulk("raise_event", filter={}, reason="r", by=operator, event_name="go")


def test_an_operation_stops_when_its_creator_loses_the_permission(
    client, make_instances, operator, run_all
):
    ids = make_instances(20, "running")
    op = client.start_bulk("terminate", filter={}, reason="r", by=operator, chunk_size=5)
    client.run_bulk_chunk(op.id)
    operator.user_permissions.clear()

    state = run_all(op.id)

    assert (state.status, state.done, state.cancelled) == ("cancelled", 5, 15)
    reason = client.bulk_outcomes(op.id, status="cancelled").items[0].reason
    assert "olga may no longer do this" in reason
    assert terminated(ids) == 5


def test_outcomes_come_in_pages(client, make_instances, operator, run_all):
    make_instances(7, "running")
    op = client.start_bulk("terminate", filter={}, reason="r", by=operator)
    run_all(op.id)

    first = client.bulk_outcomes(op.id, limit=5)
    second = client.bulk_outcomes(op.id, limit=5, cursor=first.next_cursor)

    assert len(first.items) == 5 and len(second.items) == 2 and second.next_cursor is None
    assert [o.target for o in first.items + second.items] == [f"i-{n:05d}" for n in range(7)]
    with pytest.raises(InvalidInput, match="Invalid cursor"):
        client.bulk_outcomes(op.id, cursor="abc")
    with pytest.raises(InvalidInput, match="Unknown outcome status"):
        client.bulk_outcomes(op.id, status="great")


def test_the_sweeper_wakes_an_operation_whose_message_was_lost(
    client, make_instances, operator, monkeypatch
):
    from workflows.runtime.sweeper import sweep_once

    make_instances(2, "running")
    op = client.start_bulk("terminate", filter={}, reason="r", by=operator)
    sent = []
    monkeypatch.setattr(bulk_wakeups, "send_now", lambda pk, hub, delay_ms=None: sent.append(pk))
    now = timezone.now()

    assert sweep_once(now=now).bulk_woken == 0  # recently woken: its message may be queued
    later = now + timedelta(seconds=60)
    assert sweep_once(now=later).bulk_woken == 1
    assert BulkOperation.objects.get(pk=op.id).woken_at == later
    assert sweep_once(now=later).bulk_woken == 0  # not again at once
