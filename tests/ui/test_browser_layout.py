"""Every page fits the screen at 390 px (a phone) and 1400 px (a laptop): nothing scrolls
sideways and every action button is inside the viewport's width (issue 19, point 4).
Screenshots of each page at both widths land in artifacts/screenshots/layout-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import LAPTOP, PHONE, shot, signed_in
from workflows.models import ApprovalRequest, CompensationRecord, Instance, SavedView

pytestmark = pytest.mark.browser

LONG = "order-2026-12-06-with-a-rather-long-instance-id-0123456789abcdef"
SAGA = "saga-failed-and-compensated-0123456789abcdef"
CLAIM = "claim-for-the-team-offsite-in-lisbon-0123456789"

MEASURE = """() => {
    const width = window.innerWidth;
    const visible = (el) => el.offsetParent !== null && !el.closest('details:not([open])');
    const outside = [...document.querySelectorAll('button, a.button, input[type=submit]')]
        .filter(visible)
        .map((el) => [el, el.getBoundingClientRect()])
        .filter(([el, r]) => r.width > 0 && (r.left < -1 || r.right > width + 1))
        .map(([el, r]) => `${el.textContent.trim() || el.outerHTML.slice(0, 60)} at `
            + `${Math.round(r.left)}-${Math.round(r.right)}`);
    // A table that scrolls inside its box hides columns (the Failed panel's "Why").
    // The admin's list scrolls inside its box on a phone (Django's own design), not at 1400.
    const boxes = width >= 1000 ? '.table-wrap, #changelist .results' : '.table-wrap';
    const clipped = [...document.querySelectorAll(boxes)]
        .filter(visible)
        .filter((el) => el.scrollWidth > el.clientWidth + 1)
        .map((el) => `${el.closest('section')?.querySelector('h2')?.textContent} table is `
            + `${el.scrollWidth} px in ${el.clientWidth} px`);
    return {scroll: document.documentElement.scrollWidth, width, outside, clipped};
}"""


def _fits(page: Any, url: str, name: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    found = page.evaluate(MEASURE)
    shot(page, name)
    problems = [f"{url}: button {b}" for b in found["outside"]]
    problems += [f"{url}: {c}" for c in found["clipped"]]
    if found["scroll"] > found["width"]:
        problems.append(f"{url}: {found['scroll']} px wide in a {found['width']} px window")
    return problems


@pytest.fixture
def states(server):
    """A saga waiting on a failed compensation, a compensated one, a pending approval."""
    from workflows.client import DurableClient

    client = DurableClient()
    client.start("ui_order", {"id": 17, "total": 240}, instance_id=LONG, business_key="ORD-17")
    client.start("ui_saga", {"id": 18}, instance_id=SAGA, business_key="ORD-18")
    client.start(
        "ui_expense",
        {"amount": 1240.5, "purpose": "team offsite in Lisbon, flights and two nights"},
        instance_id=CLAIM,
        business_key="EXP-2026-0042-LISBON",
    )
    wait_until(lambda: CompensationRecord.objects.filter(status="failed").exists())
    wait_until(lambda: Instance.objects.filter(instance_id=SAGA, status="failed").exists())
    wait_until(lambda: ApprovalRequest.objects.filter(status="pending").exists())


@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=["390px", "1400px"])
def test_every_page_fits_the_screen(browser, server, people, states, size):
    problems: list[str] = []
    tag = f"{size['width']}"
    operator = signed_in(browser, server, people, "olga", **size)
    Instance.objects.filter(instance_id=LONG).update(
        search_attributes={"customer": "acme-international-holdings", "region": "eu-west"}
    )
    for name in ("ACME orders in the EU, last week, slowest first", "Failed"):
        SavedView.objects.create(
            user=SavedView.user.field.related_model.objects.get(username="olga"),
            name=name,
            query="attrs=customer%3Dacme-international-holdings&sort=-updated",
        )
    # The filter panel open (a filter of it set), saved views, sort headers, attributes.
    finding = (
        "/console/?attrs=customer%3Dacme-international-holdings%2C+region%3Deu-west"
        "&created_after=2026-01-01T00%3A00&sort=-updated&size=10"
    )
    for path, name in (
        ("/console/", "console"),
        (finding, "console-finding"),
        ("/console/?status=failed", "console-failed"),
        ("/console/dashboard/", "dashboard"),
        ("/start/", "start"),
        (f"/instances/{LONG}/", "instance-needs-attention"),
        (f"/instances/{SAGA}/", "instance-compensated"),
        (f"/instances/{CLAIM}/", "instance-running"),
        ("/console/bulk/", "bulk-operations"),
    ):
        problems += _fits(operator, f"{server.url}{path}", f"layout-{name}-{tag}")
    approver = signed_in(browser, server, people, "mia", **size)
    problems += _fits(approver, f"{server.url}/approvals/", f"layout-approvals-{tag}")
    problems += _fits(approver, f"{server.url}/approvals/?tab=history", f"layout-history-{tag}")
    admin = signed_in(browser, server, people, "root", **size)
    problems += _fits(admin, f"{server.url}/admin/workflows/instance/", f"layout-admin-{tag}")
    pk = Instance.objects.get(instance_id=LONG).pk
    problems += _fits(
        admin, f"{server.url}/admin/workflows/instance/{pk}/change/", f"layout-admin-one-{tag}"
    )
    assert not problems, "\n".join(problems)


def test_filters_changed_quickly_leave_the_console_clean(browser, server, people, states):
    """Each change sends a request while the last may still run: they queue instead of
    aborting each other (htmx logs an aborted request as an error). The browser fixture
    fails the test on any console error."""
    from playwright.sync_api import expect

    operator = signed_in(browser, server, people, "olga")
    operator.goto(f"{server.url}/console/")
    for status in ("failed", "running", "", "failed", "running"):
        operator.select_option("#id_status", status)
    operator.fill("#id_q", "claim")
    operator.locator("#id_q").press("Enter")
    expect(operator.locator("#instance-list tbody tr")).to_have_count(1)
    expect(operator.locator("#instance-list")).to_contain_text(CLAIM)
    operator.goto(f"{server.url}/approvals/")  # leave while the live refresh may run
