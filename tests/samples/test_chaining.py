"""provision_customer: function chaining."""

from __future__ import annotations

import pytest

from tests.samples.support import calls
from tests.support.checks import assert_history_valid, instance, snapshot, wait_until
from workflows.models import ActivityTask
from workflows.samples.models import ServiceCall

ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


def test_each_step_gets_the_result_of_the_one_before(runner, ledger):
    iid = runner.start("provision_customer", ADA)
    runner.run_until_idle()

    state = runner.status(iid)
    assert state.status == "completed", state.failure
    out = state.output
    assert out["customer_id"].startswith("cus_") and out["account_id"].startswith("acc_")
    assert [(r.service, r.operation) for r in ledger.records()] == [
        ("crm", "create_customer"),
        ("billing", "open_account"),
        ("mail", "send"),
    ]
    assert runner.activity_calls("create_account") == [
        {"customer_id": out["customer_id"], "plan": "starter"}
    ]
    [message] = runner.activity_calls("send_welcome_message")
    assert message["to"] == ADA["email"]
    assert message["context"] == {"name": "Ada Lovelace", "account_id": out["account_id"]}


def test_a_bad_email_fails_before_any_step(runner, ledger):
    iid = runner.start("provision_customer", {"name": "Ada", "email": "not-an-address"})
    runner.run_until_idle()

    state = runner.status(iid)
    assert state.status == "failed"
    assert "'email' must be an e-mail address" in state.failure.message
    assert ledger.records() == []


@pytest.mark.integration
def test_end_to_end_with_workers(workers, client):
    iid = client.start("provision_customer", ADA, business_key="cus-ada")
    state = client.wait_for_completion(iid, timeout=30)

    assert state.status == "completed", state.failure
    assert set(state.output) == {"customer_id", "account_id", "message_id"}
    assert_history_valid(iid)
    assert calls(ADA["email"]) == [("crm", "create_customer"), ("mail", "send")]
    assert calls(state.output["customer_id"]) == [("billing", "open_account")]
    assert set(ServiceCall.objects.values_list("executions", flat=True)) == {1}


@pytest.mark.integration
def test_activity_messages_delivered_twice_change_nothing(workers, client):
    from workflows.runtime import actors
    from workflows.runtime.activities import execute_task

    iid = client.start("provision_customer", ADA)
    assert client.wait_for_completion(iid, timeout=30).status == "completed"
    before = snapshot(iid)
    tasks = list(ActivityTask.objects.filter(instance=instance(iid)).order_by("pk"))
    assert len(tasks) == 3

    for task in tasks:  # the actor's body, run again in this process: acknowledged only
        assert execute_task(task.pk) is False
        actors.run_activity.send(task.pk)  # and a duplicate message for the workers
    actors.run_orchestration.send(instance(iid).pk)
    # A later instance finishing means the workers went past the duplicates in the queue.
    marker = client.start("provision_customer", {"name": "Bob", "email": "bob@example.com"})
    assert client.wait_for_completion(marker, timeout=30).status == "completed"
    wait_until(
        lambda: not ActivityTask.objects.filter(status__in=["scheduled", "running"]).exists(),
        what="the queues to drain",
    )

    assert snapshot(iid) == before
    assert [t.runs for t in ActivityTask.objects.filter(instance=instance(iid))] == [1, 1, 1]
    rows = ServiceCall.objects.filter(idempotency_key__in=[t.idempotency_key for t in tasks])
    assert sorted(rows.values_list("executions", flat=True)) == [1, 1, 1]
