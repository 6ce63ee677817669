"""The README's tour pictures: the console (its overview, and its list finding instances:
search attributes, sort headers, the total, saved views), an instance, the approvals and
the dashboard at 1400 px and 390 px, with the kinds of state a new user meets (a saga
waiting on a failed compensation, a compensated one, approval cards with a title,
progress).

Always written to artifacts/screenshots/tour-*.png; with DURABLEAPP_UPDATE_TOUR=1 also
to static/workflows/docs/, the README's images:

    DURABLEAPP_UPDATE_TOUR=1 .venv/bin/pytest tests/ui/test_browser_tour.py -p no:cacheprovider
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import LAPTOP, PHONE, SHOTS, signed_in
from workflows.models import ApprovalRequest, CompensationRecord, Instance, SavedView

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "static" / "workflows" / "docs"


def _picture(page, name: str, part: str = "") -> None:
    page.wait_for_load_state("networkidle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"tour-{name}.png"
    if part:  # one section of a long page, whole
        page.locator(part).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path))  # the window, as a person sees it first
    if os.environ.get("DURABLEAPP_UPDATE_TOUR") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / f"{name}.png")


def test_the_tour_pictures(browser, server, people):
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    client = DurableClient()
    client.start(
        "ui_order", {"id": 17, "total": 240}, instance_id="order-17", business_key="ORD-17"
    )
    client.start("ui_saga", {"id": 18}, instance_id="order-18", business_key="ORD-18")
    client.start(
        "ui_purchase",
        {"item": "laptops", "team": "support", "amount": 12400.5, "needed_by": "2030-01-02"},
        instance_id="purchase-7",
        business_key="PO-7",
    )
    client.start(
        "ui_expense", {"amount": 42, "purpose": "taxi to the airport"}, instance_id="claim-5"
    )
    client.start("ui_copy", 12, instance_id="copy-3")
    wait_until(lambda: CompensationRecord.objects.filter(status="failed").exists())
    wait_until(lambda: Instance.objects.filter(instance_id="order-18", status="failed").exists())
    wait_until(lambda: ApprovalRequest.objects.filter(status="pending").count() == 2)
    # What ctx.upsert_search_attributes would have stored (these workflows set none).
    for instance_id, attributes in (
        ("order-17", {"customer": "acme", "region": "eu"}),
        ("order-18", {"customer": "acme", "region": "us"}),
        ("purchase-7", {"customer": "globex", "team": "support"}),
    ):
        Instance.objects.filter(instance_id=instance_id).update(search_attributes=attributes)
    olga = SavedView.user.field.related_model.objects.get(username="olga")
    for name, query in (("ACME orders", "attrs=customer%3Dacme"), ("Failed", "status=failed")):
        SavedView.objects.create(user=olga, name=name, query=query)
    finding = "/console/?attrs=customer%3Dacme&sort=-updated#all-instances"

    for size in (LAPTOP, PHONE):
        tag = "" if size is LAPTOP else "-phone"
        operator = signed_in(browser, server, people, "olga", **size)
        operator.goto(f"{server.url}/console/")
        expect(operator.locator(".tile-attention strong")).to_have_text("1")
        _picture(operator, f"console{tag}")
        operator.goto(f"{server.url}{finding}")
        expect(operator.locator(".list-total")).to_have_text("2 instances, sorted by last change ↓")
        expect(operator.locator(".saved-view")).to_have_count(2)
        _picture(operator, f"console-finding{tag}", part="#all-instances")
        operator.goto(f"{server.url}/instances/order-17/")
        expect(operator.locator(".compensation-form")).to_be_visible()
        _picture(operator, f"instance-needs-attention{tag}")
        operator.goto(f"{server.url}/console/dashboard/")
        _picture(operator, f"dashboard{tag}")
        approver = signed_in(browser, server, people, "mia", **size)
        expect(approver.locator(".approval").first).to_be_visible()
        _picture(approver, f"approvals{tag}")
