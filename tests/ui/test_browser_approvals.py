"""The approvals inbox in a real browser (issue 19, point 10): the workflow's title and
summary on the card (empty fields left out, amounts and dates formatted), filter and
order, a reason required to reject, and "I'm on it" seen by the other approver."""

from __future__ import annotations

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import _hashed, signed_in
from workflows.models import ApprovalRequest, Instance

pytestmark = pytest.mark.browser


@pytest.fixture
def requests(server, people, make_user):
    from workflows.client import DurableClient

    client = DurableClient()
    client.start(
        "ui_purchase",
        {"item": "laptops", "team": "support", "amount": 12400.5, "needed_by": "2030-01-02"},
        instance_id="buy-1",
        business_key="PO-1",
    )
    wait_until(lambda: ApprovalRequest.objects.filter(status="pending").count() == 1)
    client.start("ui_expense", {"amount": 42, "purpose": "taxi"}, instance_id="claim-1")
    wait_until(lambda: ApprovalRequest.objects.filter(status="pending").count() == 2)
    # A second manager, to see the first one's claim.
    other = make_user("max", groups=("managers",))
    other.password = _hashed("max-pass-1")
    other.save(update_fields=["password"])
    return {**people, "max": "max-pass-1"}


def test_cards_filter_order_reason_and_claim(browser, server, requests):
    from playwright.sync_api import expect

    mia = signed_in(browser, server, requests, "mia")
    card = mia.locator(".approval", has_text="Purchase of laptops for support")
    expect(card).to_be_visible()
    expect(card.locator(".summary")).to_contain_text("12,400.50")
    expect(card.locator(".summary")).to_contain_text("Wed 2 Jan 2030")
    assert "Supplier" not in card.locator(".summary").inner_text()  # empty: left out
    expect(card).to_contain_text("required to reject")

    mia.fill("#approval-q", "taxi")  # filter: only the expense is left
    expect(mia.locator(".approval")).to_have_count(1)
    expect(mia.locator(".approval")).to_contain_text("taxi")
    mia.fill("#approval-q", "")
    expect(mia.locator(".approval")).to_have_count(2)
    mia.select_option("#approval-sort", "oldest")  # buy-1 was asked first
    expect(mia.locator(".approval").first).to_contain_text("Purchase of laptops")
    mia.select_option("#approval-sort", "newest")
    expect(mia.locator(".approval").first).to_contain_text("taxi")
    mia.select_option("#approval-workflow", "ui_purchase")
    expect(mia.locator(".approval")).to_have_count(1)

    card.locator("[data-claim]").click()
    expect(card.locator(".claimed")).to_contain_text("You are on it")
    max_ = signed_in(browser, server, requests, "max")
    other_view = max_.locator(".approval", has_text="Purchase of laptops")
    expect(other_view.locator(".claimed")).to_contain_text("mia is on it")
    expect(other_view.locator("[data-claim]")).to_have_count(0)

    browser.allow(r"status of 400")  # the refusal below
    card.locator("button[value=reject]").click()
    expect(card.locator(".field-error")).to_contain_text("asks for a reason to reject")
    assert ApprovalRequest.objects.get(instance__instance_id="buy-1").status == "pending"
    card.locator("textarea[name=comment]").fill("We have spare laptops.")
    card.locator("button[value=reject]").click()
    expect(mia.locator("#flash")).to_contain_text("You rejected")
    wait_until(lambda: Instance.objects.filter(instance_id="buy-1", status="completed").exists())
    assert Instance.objects.get(instance_id="buy-1").output == {
        "outcome": "rejected",
        "comment": "We have spare laptops.",
    }


def test_a_reason_typed_before_a_refresh_is_there_the_moment_the_list_is_redrawn(
    browser, server, requests
):
    """The list refreshes on its own (a push, or every few seconds). What the person typed
    is back in the redrawn field before anything else can happen: a click right after a
    refresh once sent the emptied field (put back only at settling, ~20 ms later, more on
    a busy machine) and the reject was refused for want of a reason."""
    from playwright.sync_api import expect

    mia = signed_in(browser, server, requests, "mia")
    card = mia.locator(".approval", has_text="Purchase of laptops for support")
    expect(card).to_be_visible()
    card.locator("textarea[name=comment]").fill("We have spare laptops.")
    field = f"comment-{ApprovalRequest.objects.get(instance__instance_id='buy-1').pk}"
    # A long settle makes the gap wide; read the redrawn field right after the swap.
    seen = mia.evaluate(
        """(field) => new Promise((done) => {
            htmx.config.defaultSettleDelay = 1500;
            document.body.addEventListener("htmx:afterSwap", (event) => {
                if (event.detail.target.id !== "approval-list") return;
                setTimeout(() => done(document.getElementById(field).value), 0);
            });
            htmx.trigger(document.body, "live");
        })""",
        field,
    )
    assert seen == "We have spare laptops."
