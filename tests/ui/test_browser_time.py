"""Times in the browser's own time zone with its label, a UTC toggle, relative and
absolute on hover, clock times on history rows, the same format in the admin (issue 19,
point 7)."""

from __future__ import annotations

import re
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import signed_in
from workflows.models import HistoryEvent, Instance

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")


def test_times_read_in_the_browsers_zone_with_a_utc_toggle(browser, server, people):
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    DurableClient().start("ui_expense", {"amount": 5}, instance_id="claim-t1")
    wait_until(lambda: HistoryEvent.objects.filter(instance__instance_id="claim-t1").count() > 2)
    instance = Instance.objects.get(instance_id="claim-t1")
    started = instance.created_at.astimezone(BERLIN)
    first = HistoryEvent.objects.filter(instance=instance).order_by("seq").first()
    operator = signed_in(browser, server, people, "olga", timezone_id="Europe/Berlin")
    operator.evaluate("localStorage.removeItem('durable-time-zone')")

    operator.goto(f"{server.url}/instances/claim-t1/")
    when = operator.locator(".facts time[data-when=absolute]").first
    expect(when).to_have_text(f"{started:%Y-%m-%d %H:%M:%S} CET")
    assert re.fullmatch(r"[\d.]+ (ms|s|min) ago", when.get_attribute("title"))
    expect(operator.locator("#time-zone")).to_have_text("Local time (CET)")
    clock = operator.locator(".timeline time[data-when=clock]").first
    expect(clock).to_have_text(
        re.compile(rf"^{first.timestamp.astimezone(BERLIN):%H:%M:%S}\.\d{{3}}$")
    )
    # Retried like the texts: the running instance's page refreshes itself, and a row
    # just swapped in carries the server's UTC until the page's script relabels it.
    expect(clock).to_have_attribute("title", re.compile(r" CET$"))
    last_change = operator.locator(".facts time[data-when=relative]").first
    expect(last_change).to_have_text(re.compile(r" ago$"))
    expect(last_change).to_have_attribute("title", re.compile(r" CET$"))

    operator.click("#time-zone")  # to UTC, kept for the next pages
    utc = instance.created_at.astimezone(UTC)
    expect(when).to_have_text(f"{utc:%Y-%m-%d %H:%M:%S} UTC")
    operator.goto(f"{server.url}/console/")
    expect(operator.locator("#time-zone")).to_have_text("UTC")
    expect(operator.locator("#instance-list time").first).to_have_attribute(
        "title", re.compile(r" UTC$")
    )
    operator.click("#time-zone")
    expect(operator.locator("#time-zone")).to_have_text("Local time (CET)")


def test_the_admin_shows_times_the_same_way(browser, server, people):
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    DurableClient().start("ui_expense", {"amount": 5}, instance_id="claim-t2")
    created = Instance.objects.get(instance_id="claim-t2").created_at.astimezone(BERLIN)
    admin = signed_in(browser, server, people, "root", timezone_id="Europe/Berlin")
    admin.evaluate("localStorage.removeItem('durable-time-zone')")

    admin.goto(f"{server.url}/admin/workflows/instance/")

    expect(admin.locator("#result_list time").first).to_have_attribute(
        "title", f"{created:%Y-%m-%d %H:%M:%S} CET"
    )
