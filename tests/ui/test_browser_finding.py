"""Finding instances in a real browser (issue 19, point 9): a search-attribute filter,
a time range, a sortable column, and a saved view applied and deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.ui.browsing import shot, signed_in
from workflows.conf import conf
from workflows.models import Instance

pytestmark = pytest.mark.browser


def _instance(instance_id: str, name: str, age_days: int, **attributes) -> None:
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
