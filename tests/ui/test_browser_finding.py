"""Finding instances in a real browser (issue 19, point 9): a search-attribute filter,
a time range (typed in the browser's zone, point 7), a sortable column, and a saved view
applied and deleted."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.ui.browsing import shot, signed_in
from workflows.conf import conf
from workflows.models import Instance, SavedView

pytestmark = pytest.mark.browser


def _instance(instance_id: str, name: str, age_days: float, **attributes) -> None:
    # Rows only (no worker picks them up): finished instances of any workflow name.
    row = Instance.objects.create(
        task_hub=conf.TASK_HUB,
        instance_id=instance_id,
        name=name,
        execution_id="1",
        status="completed",
        completed_at=timezone.now(),
        search_attributes=attributes,
    )
    when = timezone.now() - timedelta(days=age_days)
    Instance.objects.filter(pk=row.pk).update(created_at=when, updated_at=when)


def test_filter_by_attribute_and_time_sort_and_save_a_view(browser, server, people):
    from playwright.sync_api import expect

    _instance("acme-old", "invoice", 3, customer="acme", region="eu")
    _instance("acme-new", "shipment", 0, customer="acme")
    _instance("beta-new", "refund", 0, customer="beta")
    page = signed_in(browser, server, people, "olga")
    page.goto(f"{server.url}/console/#all-instances")
    rows = page.locator("#instance-list tbody tr")
    expect(rows).to_have_count(3)

    page.click(".more-filters > summary")
    page.fill("#id_attrs", "customer=acme")
    page.press("#id_attrs", "Enter")
    expect(rows).to_have_count(2)
    expect(page.locator(".list-total")).to_have_text("2 instances")
    expect(rows.first).to_contain_text("customer=acme")
    # A swapped-in list's cells are named too (a phone stacks them as labelled cards).
    expect(rows.first.locator("td[data-label=Workflow]")).to_have_count(1)

    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#id_created_after", since)  # a change: the list follows
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("acme-new")

    page.fill("#id_view_name", "Recent ACME")
    page.click(".save-view button[type=submit]")
    view = page.locator('.saved-view[data-view="Recent ACME"]')
    expect(view).to_be_visible()

    page.goto(f"{server.url}/console/#all-instances")
    expect(rows).to_have_count(3)
    page.click("th a.sort:has-text('Workflow')")  # descending first
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Workflow")
    expect(rows.first).to_contain_text("shipment")
    page.click("th a.sort:has-text('Workflow')")  # and back
    expect(rows.first).to_contain_text("invoice")
    shot(page, "console-finding")

    page.click('.saved-view[data-view="Recent ACME"] a')
    expect(rows).to_have_count(1)
    expect(page.locator("#id_attrs")).to_have_value("customer=acme")
    page.click('.saved-view[data-view="Recent ACME"] button')
    expect(view).to_have_count(0)


NEW_YORK = ZoneInfo("America/New_York")


def test_a_time_range_is_typed_in_the_browsers_zone(browser, server, people):
    from playwright.sync_api import expect

    now = timezone.now()
    for name, hours in (("early", 9), ("inside", 3), ("late", 0)):
        _instance(f"tz-{name}", "invoice", hours / 24)

    def wall(hours_ago: int, zone=NEW_YORK) -> str:
        return (now - timedelta(hours=hours_ago)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")

    page = signed_in(browser, server, people, "olga", timezone_id="America/New_York")
    page.evaluate("localStorage.removeItem('durable-time-zone')")
    page.goto(f"{server.url}/console/#all-instances")
    rows = page.locator("#instance-list tbody tr")
    expect(rows).to_have_count(3)
    page.click(".more-filters > summary")
    # The label the top bar's toggle shows ("Local time (GMT-5)" in Chromium's en-GB).
    expect(page.locator("label[for=id_created_after]")).to_have_text(
        re.compile(r"^Started from \(GMT-[45]\)$")
    )
    # New York is 4-5 hours behind UTC: read as UTC, this range would find tz-early only.
    page.fill("#id_created_after", wall(6))
    page.fill("#id_created_before", wall(1))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("tz-inside")
    expect(page).to_have_url(re.compile(r"created_after=[-\dT]+%3A\d\d-0[45]%3A00"))

    page.click("#time-zone")  # to UTC: the same instants, shown and sent in UTC
    expect(page.locator("label[for=id_created_before]")).to_have_text("Started before (UTC)")
    expect(page.locator("#id_created_after")).to_have_value(wall(6, UTC))
    page.click("#filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"created_after=[-\dT]+%3A\d\d%2B00%3A00"))
    expect(rows).to_have_count(1)
    page.fill("#id_view_name", "Last hours")
    page.click(".save-view button[type=submit]")
    expect(page.locator('.saved-view[data-view="Last hours"]')).to_be_visible()
    saved = parse_qs(SavedView.objects.get(name="Last hours").query)
    assert saved["created_after"] == [f"{wall(6, UTC)}+00:00"]

    page.click("#time-zone")  # back to local time: the saved view shows New York times
    page.click('.saved-view[data-view="Last hours"] a')
    expect(page.locator("#id_created_after")).to_have_value(wall(6))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("tz-inside")
