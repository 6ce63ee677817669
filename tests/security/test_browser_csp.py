"""In a real browser the Content-Security-Policy blocks nothing of ours: the UI with htmx
and the live websocket, the admin and the API docs run without one violation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.browsing import WAIT_MS, WatchedBrowser
from tests.ui.server import ServeProcess

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "csp-pass-1"


@pytest.fixture
def server(transactional_db) -> Iterator[ServeProcess]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    serving = ServeProcess("tests.support.ui_workflows").start()
    yield serving
    serving.stop()


@pytest.fixture
def page(server, django_user_model) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop in this thread
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        watched = WatchedBrowser(browser)  # page errors and console errors fail the test
        page = watched.new_page()
        page.set_default_timeout(WAIT_MS)
        page.violations = []
        page.on(
            "console",
            lambda m: page.violations.append(m.text) if "Content Security Policy" in m.text else 0,
        )
        yield page
        browser.close()
    if unsafe is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe
    unexpected = watched.unexpected()
    assert not unexpected, "errors in the browser console:\n" + "\n".join(unexpected)


def test_nothing_of_ours_is_blocked(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server.url}/login/")
    assert (
        "script-src 'self'"
        in page.context.request.get(f"{server.url}/login/").headers["content-security-policy"]
    )
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{server.url}/console/")
    assert page.evaluate("typeof window.htmx") == "object"
    expect(page.locator("#live-state")).to_have_text("Live")  # the websocket is allowed
    page.locator("#id_q").press_sequentially("nothing-like-this")  # htmx searches as one types
    expect(page.locator("#instance-list")).to_contain_text("No instance matches")
    for path in ("/approvals/", "/console/dashboard/", "/start/"):
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{server.url}/admin/")
    page.goto(f"{server.url}/admin/workflows/instance/")
    page.click("#changelist-search input[type=submit]")  # the admin's own scripts
    page.goto(f"{server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info")).to_contain_text("durableapp API")

    assert page.violations == []
