"""Operators recover instances: rewind, retry_episode, and the audit trail of it all."""

from __future__ import annotations

import pytest

from tests.recovery import flows
from tests.support.checks import assert_history_valid, instance, kinds, wait_until
from workflows.engine.errors import InstanceNotFound, InvalidState
from workflows.models import ActivityTask, AuditEntry, Instance
from workflows.samples.models import ServiceCall

pytestmark = pytest.mark.integration


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("olivia")


def audit(iid):
    return list(
        AuditEntry.objects.filter(instance_ref=iid)
        .order_by("pk")
        .values_list("action", "actor", "user__username")
    )


def test_rewind_reruns_the_failed_step_and_keeps_earlier_results(workers, client, operator):
    iid = client.start("r_rewindable", "job-1")
    failed = client.wait_for_completion(iid, timeout=30)
    assert failed.status == "failed"
    assert "rejected (failure switch)" in failed.failure["message"]
    prepare = ServiceCall.objects.get(reference="job-1", operation="prepare")

    client.rewind(iid, reason="ledger fixed", by=operator)
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "completed", state.failure
    assert state.output["first"] == prepare.result["id"]  # the earlier result, kept
    runs = {t.input["step"]: t.runs for t in ActivityTask.objects.filter(instance=instance(iid))}
    assert runs == {"prepare": 1, "commit": 2}
    prepare.refresh_from_db()
    assert prepare.executions == 1  # not run again
    commit = ServiceCall.objects.get(reference="job-1", operation="commit")
    assert (commit.failures, commit.executions) == (1, 1)
    assert_history_valid(iid)
    assert audit(iid) == [("rewind", "olivia", "olivia")]


def test_rewind_is_refused_after_compensations_ran(workers, client, operator):
    fail = {"step": "create_shipment", "mode": "permanent"}
    order = {"order_id": "o-9", "items": [1], "amount": 5, "fail": fail}
    iid = client.start("order_saga", order)
    assert client.wait_for_completion(iid, timeout=30).status == "failed"

    with pytest.raises(InvalidState, match="cannot be rewound: it did not fail on an activity"):
        client.rewind(iid, by=operator)
    assert client.get_status(iid).status == "failed"
    assert audit(iid) == []


def test_retry_episode_after_a_fixed_non_determinism(local_worker, client, operator):
    from workflows.runtime.cache import sticky_cache

    iid = client.start("r_code_change", "job-2")
    wait_until(lambda: kinds(iid).count("activity_completed") == 2, what="both steps to complete")
    flows.CODE["changed"] = True  # a deploy changes the code under the running instance
    try:
        sticky_cache().clear()  # new workers: the history is replayed
        client.raise_event(iid, "go", "now")
        state = wait_until(
            lambda: client.get_status(iid).needs_attention and client.get_status(iid),
            what="the replay error",
        )
        assert state.status == "running"
        assert state.attention_reason.startswith("replay: ")
        assert "activity 'r_service_step'" in state.attention_reason
        assert "activity 't_add'" in state.attention_reason
        assert instance(iid).inbox.count() == 1  # the event waits, nothing was lost
    finally:
        flows.CODE["changed"] = False  # the fix is deployed

    client.retry_episode(iid, reason="fix deployed", by=operator)
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "completed" and not state.needs_attention
    assert state.output["go"] == "now"
    assert_history_valid(iid)
    assert audit(iid) == [("retry_episode", "olivia", "olivia")]


def test_every_operator_action_is_audited(workers, client, operator):
    iid = client.start("t_wait_event", 0)
    wait_until(lambda: client.get_status(iid).history_length > 0, what="the instance to wait")

    client.suspend(iid, reason="investigating", by=operator)
    assert client.get_status(iid).status == "suspended"
    client.resume(iid, reason="all good", by=operator)
    client.terminate(iid, reason="not needed", by=operator)
    assert client.get_status(iid).status == "terminated"
    client.restart(iid, by=operator)
    wait_until(lambda: client.get_status(iid).history_length > 0, what="the restarted instance")
    client.terminate(iid, reason="really not needed", by=operator)
    client.purge(iid, by=operator)

    with pytest.raises(InstanceNotFound):
        client.get_status(iid)
    assert not Instance.objects.filter(instance_id=iid).exists()
    entries = AuditEntry.objects.filter(instance_ref=iid).order_by("pk")
    assert [(e.action, e.actor, e.user) for e in entries] == [
        (action, "olivia", operator)
        for action in ("suspend", "resume", "terminate", "restart", "terminate", "purge")
    ]
    assert [e.note for e in entries][:3] == ["investigating", "all good", "not needed"]
