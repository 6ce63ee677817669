"""Real browser scenarios (Playwright + Debian's chromium) against a real ASGI server.

The server is `durable serve` (daphne + embedded worker) on the test database, so pages
get websocket pushes. Screenshots of the main pages land in artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import shot, signed_in
from tests.ui.server import ServeProcess
from workflows.models import ApprovalRequest, Instance

pytestmark = pytest.mark.browser

_signed_in = signed_in
_shot = shot


def _no_reload_marker(page: Any) -> None:
    page.evaluate("window.__stillTheSamePage = true")


def _same_page(page: Any) -> bool:
    return page.evaluate("window.__stillTheSamePage === true")


def _start(
    page: Any, server: ServeProcess, name: str, data: str, instance_id: str, key: str = ""
) -> None:
    page.goto(f"{server.url}/start/?name={name}")
    page.fill("#id_input", data)
    page.fill("#id_instance_id", instance_id)
    page.fill("#id_business_key", key)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**/instances/{instance_id}/")


def test_an_approval_completes_the_workflow_live_on_the_operators_page(browser, server, people):
    from playwright.sync_api import expect

    operator = _signed_in(browser, server, people, "olga")
    _start(
        operator,
        server,
        "ui_expense",
        '{"amount": 120, "purpose": "train tickets"}',
        "claim-1",
        "EXP-1",
    )
    expect(operator.locator("#live-state")).to_have_text("Live")
    expect(operator.locator("#instance-body")).to_contain_text("Approval expense requested")
    _no_reload_marker(operator)

    approver = _signed_in(browser, server, people, "mia")
    expect(approver.locator(".approval")).to_contain_text("train tickets")
    expect(approver.locator(".approval")).to_contain_text("left")
    _shot(approver, "approvals")
    _no_reload_marker(approver)
    approver.fill("textarea[name=comment]", "Fine, book it.")
    approver.click("button[value=approve]")

    # The card turns into the decision; the live refresh that follows drops it from
    # the pending list. Either way the form is gone and the message stays.
    expect(approver.locator("#flash")).to_contain_text("You approved")
    expect(approver.locator("form.decide")).to_have_count(0)
    assert _same_page(approver), "the decision reloaded the page"
    # Updated in place (pushed: test_pushes_arrive_over_the_websocket sees the frames).
    expect(operator.locator("#instance-body .instance-head .status")).to_have_text("completed")
    assert _same_page(operator), "the operator's page reloaded instead of updating"
    expect(operator.locator(".timeline")).to_contain_text("Approval expense approved")
    expect(operator.locator("#instance-body")).to_contain_text("3 of 3 (100%)")
    operator.goto(f"{server.url}/instances/claim-1/")  # listen again from the start
    _shot(operator, "instance-completed")
    assert Instance.objects.get(instance_id="claim-1").output == {
        "outcome": "approved",
        "by": "mia",
    }


def test_pushes_arrive_over_the_websocket(browser, server, people):
    """The operator's page hears the decision as a websocket frame, not by polling."""
    from playwright.sync_api import expect

    operator = _signed_in(browser, server, people, "olga")
    frames: list[str] = []
    operator.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    _start(operator, server, "ui_expense", '{"amount": 5}', "claim-2")
    expect(operator.locator("#live-state")).to_have_text("Live")
    approval = wait_until(lambda: ApprovalRequest.objects.filter(status="pending").first())
    frames.clear()

    approver = _signed_in(browser, server, people, "mia")
    approver.click(f"#approval-{approval.pk} button[value=reject]")

    deadline = time.monotonic() + 10
    heard = lambda: any('"status": "completed"' in f and "claim-2" in f for f in frames)  # noqa: E731
    while not heard() and time.monotonic() < deadline:
        operator.wait_for_timeout(100)  # Playwright delivers events while it runs
    assert heard(), f"no push for claim-2 over the websocket; frames: {frames}"
    expect(operator.locator("#instance-body .instance-head .status")).to_have_text("completed")


def test_an_operator_resolves_a_failed_compensation_and_the_instance_finishes(
    browser, server, people
):
    from playwright.sync_api import expect

    operator = _signed_in(browser, server, people, "olga")
    _start(operator, server, "ui_order", '{"id": 17, "total": 240}', "order-17", "ORD-17")
    expect(operator.locator(".attention")).to_contain_text("release reservation")

    operator.goto(f"{server.url}/console/")
    expect(operator.locator("#overview")).to_contain_text("the warehouse is down")
    expect(operator.locator(".tile-attention strong")).to_have_text("1")
    _shot(operator, "console")
    operator.click("#overview .attention-row a")
    operator.wait_for_url("**/instances/order-17/")
    _shot(operator, "instance-needs-attention")

    _no_reload_marker(operator)
    browser.allow(r"status of 400")  # the refusal below answers 400
    operator.click("button:text('Resolve')")  # no note yet: refused next to the field
    expect(operator.locator(".compensation-form .field-error")).to_contain_text(
        "Write what you did by hand"
    )
    assert operator.locator("#flash .msg").count() == 0  # not at the top of the page
    operator.fill("textarea[name=note]", "Released the reservation in the WMS by hand.")
    operator.click("button:text('Resolve')")

    expect(operator.locator("#flash")).to_contain_text("marked as done by hand")
    expect(operator.locator("#instance-body .instance-head .status")).to_have_text("completed")
    expect(operator.locator("#compensations")).to_contain_text(
        "Released the reservation in the WMS"
    )
    expect(operator.locator("#instance-body")).to_contain_text("compensation resolve")  # audit
    assert _same_page(operator)
    assert Instance.objects.get(instance_id="order-17").status == "completed"


def test_someone_outside_the_group_cannot_decide(browser, server, people):
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    DurableClient().start("ui_expense", {"amount": 999}, instance_id="claim-9")
    approval = wait_until(lambda: ApprovalRequest.objects.filter(status="pending").first())

    browser.allow(r"status of 403")  # the refusals this test provokes
    outsider = _signed_in(browser, server, people, "otto")
    outsider.goto(f"{server.url}/approvals/")
    expect(outsider.locator(".empty")).to_contain_text("not in any group")
    assert outsider.locator(".approval").count() == 0
    # A forged request from the signed-in page (with its CSRF token) is refused too.
    status = outsider.evaluate(
        """async (pk) => {
            const token = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
            const body = new FormData();
            body.append("decision", "approve");
            const r = await fetch(`/approvals/${pk}/decide/`, {method: "POST", body,
                headers: {"X-CSRFToken": token, "HX-Request": "true"}});
            return [r.status, await r.text()];
        }""",
        approval.pk,
    )
    assert status[0] == 403 and "is not in group" in status[1]
    assert outsider.goto(f"{server.url}/instances/claim-9/").status == 403
    assert outsider.goto(f"{server.url}/console/").status == 403
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_screenshots_of_the_other_pages_on_laptop_and_phone(browser, server, people):
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    DurableClient().start(
        "ui_expense", {"amount": 42, "purpose": "taxi to the airport"}, instance_id="claim-5"
    )
    page = browser.new_context().new_page()
    page.goto(f"{server.url}/login/")
    _shot(page, "login")
    operator = _signed_in(browser, server, people, "olga")
    operator.goto(f"{server.url}/start/")
    _shot(operator, "start")
    browser.allow(r"/start/: Failed to load resource: .*status of 400")  # the form's answer
    operator.fill("#id_input", "{amount: 1}")
    operator.click("main form button[type=submit]")
    expect(operator.locator(".field.has-error")).to_contain_text("not valid JSON")
    operator.goto(f"{server.url}/instances/claim-5/")
    expect(operator.locator("#instance-body")).to_contain_text("1 of 3")
    _shot(operator, "instance-running")

    phone = _signed_in(browser, server, people, "mia", width=390, height=844)
    expect(phone.locator(".approval")).to_contain_text("taxi to the airport")
    _shot(phone, "phone-approvals")
    phone.click(".approval a[href*='/instances/']")
    expect(phone.locator("h1")).to_contain_text("ui_expense")
    assert re.search(r"Hidden: inputs, outputs", phone.content())
    _shot(phone, "phone-instance")
