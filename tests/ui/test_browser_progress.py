"""The progress convention in a real browser (issue 19, point 12): a workflow's
``ctx.set_progress(40, message=...)`` is a bar on the instance page and in the console's
lists, not only for one sample."""

from __future__ import annotations

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import signed_in
from workflows.models import Instance

pytestmark = pytest.mark.browser


def test_progress_is_a_bar_on_the_instance_page_and_in_the_lists(browser, server, people):
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    DurableClient().start("ui_copy", 12, instance_id="copy-1")
    wait_until(lambda: Instance.objects.filter(instance_id="copy-1", status="running").exists())
    operator = signed_in(browser, server, people, "olga")

    operator.goto(f"{server.url}/instances/copy-1/")
    bar = operator.locator(".instance-head [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "40")
    label = operator.locator(".instance-head .progress-label")
    expect(label).to_have_text("40% · copying 12 files")

    operator.goto(f"{server.url}/console/")
    row = operator.locator("#instance-list tr", has_text="copy-1")
    expect(row.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "40")
    expect(row.locator(".progress-label")).to_have_text("40%")
