"""Approvals page: own group's requests only, inline decisions, history, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.ui.support import text
from workflows.models import ApprovalRequest, AuditEntry, InboxMessage
from workflows.ui.live import poll_seconds

pytestmark = pytest.mark.django_db


def test_an_approver_sees_the_requests_of_their_group_with_details_and_time_left(
    approver, pending_approval
):
    pending_approval("claim-1")
    pending_approval("claim-2", group="finance")

    html = approver.get("/approvals/").content.decode()

    assert "claim-1" in html and "claim-2" not in html
    assert "train tickets" in html  # the details
    assert "left" in html  # time until the deadline
    assert 'href="/instances/claim-1/"' in html  # the workflow it belongs to
    assert "For group <strong>managers</strong>" in html


def test_someone_in_no_group_is_told_how_to_get_requests(outsider, pending_approval):
    pending_approval("claim-1")

    html = outsider.get("/approvals/").content.decode()

    assert "claim-1" not in html
    assert "not in any group" in html


def test_an_empty_inbox_explains_what_will_appear(approver):
    assert "Nothing waits for you" in approver.get("/approvals/").content.decode()


def test_approving_inline_answers_with_the_list_the_decided_card_and_a_message(
    approver, pending_approval, htmx
):
    approval = pending_approval("claim-1")

    response = approver.post(
        f"/approvals/{approval.pk}/decide/",
        {"decision": "approve", "comment": "fine by me"},
        **htmx,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="approval-{approval.pk}"' in html
    assert "Just decided" in html and "Nothing waits for you" not in html
    assert "Approved by <strong>mia</strong>" in html
    assert 'id="flash" hx-swap-oob="true"' in html and "You approved" in html
    approval.refresh_from_db()
    assert (approval.status, approval.comment, approval.decided_by.username) == (
        "approved",
        "fine by me",
        "mia",
    )
    assert InboxMessage.objects.filter(instance=approval.instance).count() >= 1
    assert AuditEntry.objects.filter(action="decide", user__username="mia").exists()


def test_rejecting_without_htmx_redirects_back_with_a_message(approver, pending_approval):
    approval = pending_approval("claim-1")

    response = approver.post(
        f"/approvals/{approval.pk}/decide/", {"decision": "reject", "comment": ""}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/approvals/"
    assert "You rejected" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == "rejected"


def test_a_second_decision_is_not_recorded_and_says_who_decided(
    approver, make_user, pending_approval, htmx
):
    from workflows.client import DurableClient

    approval = pending_approval("claim-1")
    colleague = make_user("carl", groups=("managers",))
    DurableClient().decide(approval.pk, colleague, True, "done")

    response = approver.post(f"/approvals/{approval.pk}/decide/", {"decision": "reject"}, **htmx)

    assert "already approved by carl" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == "approved"


def test_a_non_member_cannot_decide(outsider, pending_approval, htmx):
    approval = pending_approval("claim-1")

    inline = outsider.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"}, **htmx)
    page = outsider.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"})

    assert inline.status_code == 403
    assert inline["HX-Retarget"] == "#flash"
    assert "is not in group" in inline.content.decode()
    assert page.status_code == 403
    assert "Not allowed" in page.content.decode()
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_a_decision_after_the_deadline_is_refused_with_a_message(approver, pending_approval, htmx):
    approval = pending_approval("claim-1", deadline=timezone.now() - timedelta(minutes=1))

    listing = approver.get("/approvals/").content.decode()
    response = approver.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"}, **htmx)

    assert "deadline passed" in listing
    assert response.status_code == 409
    assert "expired" in response.content.decode()


def test_a_bad_decision_value_is_a_message_not_an_error(approver, pending_approval, htmx):
    approval = pending_approval("claim-1")

    response = approver.post(f"/approvals/{approval.pk}/decide/", {"decision": "maybe"}, **htmx)

    assert response.status_code == 400
    assert "Choose approve or reject" in response.content.decode()


def test_an_unknown_request_is_a_message(approver, htmx):
    response = approver.post("/approvals/999999/decide/", {"decision": "approve"}, **htmx)

    assert response.status_code == 400
    assert "No approval request 999999" in response.content.decode()


def test_the_history_tab_lists_decided_and_expired_requests(approver, pending_approval):
    decided = pending_approval("claim-1")
    pending_approval("claim-2", status="expired")
    pending_approval("claim-3")
    ApprovalRequest.objects.filter(pk=decided.pk).update(
        status="rejected", decided_by=approver.user, decided_at=timezone.now(), comment="too much"
    )

    html = approver.get("/approvals/?tab=history").content.decode()

    assert "claim-1" in html and "claim-2" in html and "claim-3" not in html
    assert "too much" in html


def test_the_list_fragment_refreshes_alone(approver, pending_approval, htmx):
    pending_approval("claim-1")

    response = approver.get("/approvals/list/?tab=pending", **htmx)

    html = response.content.decode()
    assert "claim-1" in html
    assert "<html" not in html


def test_decisions_need_a_csrf_token(make_user, pending_approval):
    from django.test import Client

    approval = pending_approval("claim-1")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_user("mia", groups=("managers",)))

    response = browser.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"})

    assert response.status_code == 403
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_the_page_carries_the_csrf_header_for_htmx_and_the_live_socket(approver):
    html = approver.get("/approvals/").content.decode()

    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert 'data-live-url="/ws/instances/"' in html
    assert f'hx-trigger="live from:body, every {poll_seconds()}s"' in html


def test_a_card_shows_the_title_summary_and_who_is_on_it(approver, pending_approval, htmx):
    approval = pending_approval(
        title="Train tickets for Ann",
        summary={"Amount": 1200.0, "Purpose": "", "Due": "2030-01-02"},
        reason_required=True,
    )

    claimed = approver.post(f"/approvals/{approval.pk}/claim/", **htmx)
    refused = approver.post(
        f"/approvals/{approval.pk}/decide/", {"decision": "reject", "comment": " "}, **htmx
    )

    html = text(claimed)
    assert "Train tickets for Ann" in html and "1,200" in html and "Wed 2 Jan 2030" in html
    assert "<dt>Purpose</dt>" not in html  # empty: left out
    assert "You are on it" in html and "data-release" in html
    assert refused.status_code == 400
    assert refused["HX-Retarget"] == f"#comment-{approval.pk}-error"
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.claimed_by.username == "mia"
