"""Whole flows through the UI with a running worker: decisions move workflows on."""

from __future__ import annotations

import pytest

from tests.support.brokers import purge_queues
from tests.support.checks import wait_until
from workflows.client import DurableClient
from workflows.conf import conf
from workflows.models import ApprovalRequest, CompensationRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def workers(transactional_db, worker):
    purge_queues(conf.TASK_HUB)
    return worker


def test_an_approval_decided_in_the_ui_completes_the_workflow(workers, make_user, htmx):
    from django.test import Client

    durable = DurableClient()
    durable.start("ui_expense", {"amount": 80, "purpose": "taxi"}, instance_id="claim-1")
    approval = wait_until(
        lambda: ApprovalRequest.objects.filter(status="pending").first(), what="the request"
    )
    approver = Client()
    approver.force_login(make_user("mia", groups=("managers",)))

    assert "taxi" in approver.get("/approvals/").content.decode()
    approver.post(
        f"/approvals/{approval.pk}/decide/", {"decision": "approve", "comment": "ok"}, **htmx
    )

    state = durable.wait_for_completion("claim-1", timeout=30)
    assert state.status == "completed"
    assert state.output == {"outcome": "approved", "by": "mia"}
    assert "Nothing waits for you" in approver.get("/approvals/").content.decode()


def test_a_failed_compensation_resolved_in_the_ui_lets_the_workflow_finish(workers, operator, htmx):
    durable = DurableClient()
    durable.start("ui_order", {"id": 5}, instance_id="order-5")
    record = wait_until(
        lambda: CompensationRecord.objects.filter(status="failed").first(), what="the failed undo"
    )
    assert "release reservation" in operator.get("/console/").content.decode()

    response = operator.post(
        f"/compensations/{record.pk}/resolve/", {"note": "released in the WMS by hand"}, **htmx
    )

    assert response.status_code == 200
    state = durable.wait_for_completion("order-5", timeout=30)
    assert state.status == "completed"
    assert state.output == {"charged": False, "compensations": ["resolved_manually"]}


def test_resolving_the_only_failed_compensation_clears_the_attention_flag(workers, operator, htmx):
    durable = DurableClient()
    durable.start("ui_order", {"id": 6}, instance_id="order-6")
    record = wait_until(
        lambda: CompensationRecord.objects.filter(status="failed").first(), what="the failed undo"
    )
    operator.post(f"/compensations/{record.pk}/skip/", {"note": "nothing to release"}, **htmx)

    assert durable.wait_for_completion("order-6", timeout=30).status == "completed"
    assert not durable.get_status("order-6").needs_attention
