"""Patterns across the samples: restarts, deploys of new versions, events, replay."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.samples.support import assert_replays, replay
from tests.support.checks import assert_history_valid, history, instance, wait_until
from workflows.engine.errors import InstanceFinished
from workflows.models import ApprovalRequest, HistoryEvent, InboxMessage, Timer

pytestmark = pytest.mark.integration


def waiting_on(client, iid, kind):
    """The instance's last step scheduled ``kind`` (and it waits on it)."""

    def check():
        state = client.get_status(iid)
        return state.status == "running" and kind in [r.kind for r in history(iid)][-3:]

    return check


def test_workers_down_during_a_timer_wait(workers, client):
    spec = {"deployment_id": "web-7", "ready_after_checks": 2, "interval_seconds": 1.5}
    iid = client.start("deployment_monitor", {**spec, "max_attempts": 5})
    wait_until(waiting_on(client, iid, "timer_created"), what="the monitor to sleep")

    workers.stop()
    timer = Timer.objects.get(instance=instance(iid))
    wait_until(lambda: timezone.now() >= timer.fire_at, what="the timer to be due")
    # Due, and no worker (no sweeper) to fire it: it waits in the database.
    assert not Timer.objects.get(pk=timer.pk).fired
    assert client.get_status(iid).status == "running"
    workers.start()

    state = client.wait_for_completion(iid, timeout=30)
    assert state.output == {"deployment_id": "web-7", "ready": True, "attempts": 2}
    fired = next(r for r in history(iid) if r.kind == "timer_fired")
    assert fired.timestamp >= timer.fire_at
    assert_history_valid(iid)


def test_workers_down_while_waiting_for_a_person(workers, client, django_user_model):
    from django.contrib.auth.models import Group

    alice = django_user_model.objects.create_user("alice")
    alice.groups.add(Group.objects.create(name="approvers"))
    iid = client.start("expense_approval", {"amount": 30, "requester": "sam"})
    request = wait_until(
        lambda: ApprovalRequest.objects.filter(instance__instance_id=iid).first(),
        what="the approval request",
    )

    workers.stop()
    before = [r.kind for r in history(iid)]
    client.decide(request.pk, alice, approve=True, comment="while the workers were down")
    # Recorded, waiting in the inbox for a worker; the instance has not moved.
    assert InboxMessage.objects.filter(instance=instance(iid)).count() == 1
    assert [r.kind for r in history(iid)] == before
    assert client.get_status(iid).status == "running"
    workers.start()

    state = client.wait_for_completion(iid, timeout=30)
    assert state.output["status"] == "approved"
    assert state.output["comment"] == "while the workers were down"
    assert_history_valid(iid, complete=False)  # the deadline timer never fired


def test_instances_of_the_old_version_keep_running_after_a_deploy(workers, client):
    # Started before the deploy, when version 1 was the latest.
    old = client.start("s_versioned", version=1)
    wait_until(waiting_on(client, old, "activity_completed"), what="v1 to wait")

    workers.stop()  # the deploy: new workers with both versions registered
    workers.start()
    new = client.start("s_versioned")
    wait_until(waiting_on(client, new, "activity_completed"), what="v2 to wait")
    client.raise_event(old, "continue", "old")
    client.raise_event(new, "continue", "new")

    old_state = client.wait_for_completion(old, timeout=30)
    new_state = client.wait_for_completion(new, timeout=30)
    assert (old_state.version, old_state.output) == (1, {"version": 1, "total": 2, "answer": "old"})
    assert (new_state.version, new_state.output) == (
        2,
        {"version": 2, "total": 21, "answer": "new"},
    )
    assert not old_state.needs_attention
    assert [r.payload["name"] for r in history(old) if r.kind == "activity_scheduled"] == ["t_add"]


def test_an_event_before_the_timeout_wins(workers, client):
    iid = client.start("t_event_or_timeout", 30)
    wait_until(waiting_on(client, iid, "timer_created"), what="the wait with its timeout")
    client.raise_event(iid, "approve", {"ok": True}, event_id="e-1")

    state = client.wait_for_completion(iid, timeout=30)
    assert state.output == {"got": {"ok": True}}
    assert "timer_fired" not in [r.kind for r in history(iid)]
    assert client.raise_event(iid, "approve", {"ok": True}, event_id="e-1").outcome == "duplicate"


def test_an_event_after_the_timeout_is_refused(workers, client):
    iid = client.start("t_event_or_timeout", 0.5)
    state = client.wait_for_completion(iid, timeout=30)
    assert state.output == {"timed_out": True}

    with pytest.raises(InstanceFinished, match="already finished"):
        client.raise_event(iid, "approve", {"ok": True})
    assert "event_raised" not in [r.kind for r in history(iid)]


def test_replay_check_catches_a_history_that_no_longer_matches(workers, client):
    iid = client.start("provision_customer", {"name": "Ada", "email": "ada@example.com"})
    client.wait_for_completion(iid, timeout=30)
    assert_replays(instance(iid))  # the real history replays to the stored output

    row = next(r for r in history(iid) if r.kind == "activity_completed")
    row.payload["result"]["customer_id"] = "cus_tampered"
    HistoryEvent.objects.filter(pk=row.pk).update(payload=row.payload)
    assert replay(instance(iid)).output["customer_id"] == "cus_tampered"
    with pytest.raises(AssertionError):
        assert_replays(instance(iid))
    # Put it back so the suite-wide replay check after this test passes.
    row.payload["result"]["customer_id"] = client.get_status(iid).output["customer_id"]
    HistoryEvent.objects.filter(pk=row.pk).update(payload=row.payload)
