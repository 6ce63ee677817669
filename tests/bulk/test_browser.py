"""The bulk flow in a real browser (Playwright + Debian's chromium) against `durable serve`
(daphne + embedded worker) on the test database: select all matching -> review and
confirm -> live progress over the websocket -> outcomes. Screenshots land in
artifacts/screenshots/bulk-*.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bulk.conftest import OPERATOR
from tests.support.checks import wait_until
from tests.ui.browsing import WAIT_MS, WatchedBrowser, _hashed, chromium, server  # noqa: F401
from tests.ui.server import ServeProcess
from workflows.models import AuditEntry, BulkOperation, Instance

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
COUNT = 120  # two chunks of 100 (240 took over a minute on SQLite in a loaded CI run)


@pytest.fixture(scope="module")
def serving(django_db_setup, django_db_blocker) -> Iterator[ServeProcess]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    with django_db_blocker.unblock():
        serving = ServeProcess("tests.support.workflows").start()
    yield serving
    serving.stop()


@pytest.fixture
def operator_page(server, chromium, make_user) -> Iterator[Any]:  # noqa: F811
    user = make_user("olga", *OPERATOR)
    user.password = _hashed("olga-pass-1")
    user.save(update_fields=["password"])
    watched = WatchedBrowser(chromium)  # page errors and console errors fail the test
    context = watched.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{server.url}/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", "olga-pass-1")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    yield page
    context.close()
    unexpected = watched.unexpected()
    assert not unexpected, "errors in the browser console:\n" + "\n".join(unexpected)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"bulk-{name}.png"), full_page=True)


def test_select_all_matching_confirm_follow_live_and_read_the_outcomes(
    server,  # noqa: F811
    operator_page,
    client,
):
    from playwright.sync_api import expect

    page = operator_page
    for n in range(COUNT):
        client.start("t_wait_event", None, instance_id=f"claim-{n:04d}", business_key="EU")
    client.start("t_wait_event", None, instance_id="other-1", business_key="US")
    running = lambda: Instance.objects.filter(status="running").count() == COUNT + 1  # noqa: E731
    wait_until(running, timeout=60, what="every instance running (the server's worker)")

    page.goto(f"{server.url}/console/?business_key=EU&status=running")
    bar = page.locator("#bulk-list")
    expect(bar).to_contain_text(f"Select all {COUNT} matching")
    page.locator("#instance-list input[data-bulk-pick]").nth(0).check()
    page.locator("#instance-list input[data-bulk-pick]").nth(1).check()
    expect(bar.locator("[data-bulk-count]")).to_have_text("2 selected")
    bar.locator("[data-bulk-all]").check()
    expect(bar.locator("[data-bulk-count]")).to_have_text(f"All {COUNT} selected")
    # A live refresh redraws the list: the selection stays.
    page.evaluate("htmx.trigger(document.body, 'live')")
    page.wait_for_timeout(1500)
    expect(page.locator("#bulk-list [data-bulk-all]")).to_be_checked()
    page.select_option("#bulk-list-action", "terminate")
    _shot(page, "console-selection")

    page.click("#bulk-list [data-bulk-go]")
    page.wait_for_url("**/console/bulk/review/")
    review = page.locator("#bulk-review")
    expect(review).to_contain_text(f"Terminate: {COUNT} instances")
    expect(review).to_contain_text("Everything matching status running; business key EU now")
    expect(review.locator("[data-bulk-will]")).to_have_text(str(COUNT))
    expect(review.locator("table.bulk-sample tbody tr")).to_have_count(10)
    assert not BulkOperation.objects.exists(), "the review changed nothing"
    page.fill("#id_reason", "INC-77: the EU claims were created twice")
    _shot(page, "review")

    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    page.click("[data-bulk-run]")
    page.wait_for_url("**/console/bulk/*/")
    page.evaluate("window.__stillTheSamePage = true")
    expect(page.locator("#live-state")).to_have_text("Live")
    progress = page.locator("#bulk-progress")
    expect(progress.locator("[data-bulk-processed]")).to_have_text(f"{COUNT} of {COUNT} (100%)")
    expect(progress.locator("[data-bulk-status]")).to_have_text("completed")
    assert page.evaluate("window.__stillTheSamePage === true"), "the page reloaded"
    assert any('"processed"' in frame for frame in frames), f"no push; frames: {frames}"
    outcomes = page.locator("#bulk-outcomes")
    expect(outcomes.locator("tbody tr").first).to_contain_text("done")
    expect(outcomes).to_contain_text("claim-0000")
    _shot(page, "progress-done")

    operation = BulkOperation.objects.get()
    assert (operation.done, operation.skipped, operation.failed) == (COUNT, 0, 0)
    assert Instance.objects.filter(status="terminated").count() == COUNT
    assert Instance.objects.get(instance_id="other-1").status == "running"
    assert AuditEntry.objects.filter(action="terminate", actor="olga").count() == COUNT

    page.click("#bulk-outcomes a.mono >> nth=0")
    page.wait_for_url("**/instances/claim-0000/")
    expect(page.locator("#instance-body")).to_contain_text(f"bulk operation #{operation.pk}")
    started = time.monotonic()
    page.click(f"#instance-body a[href='/console/bulk/{operation.pk}/']")
    page.wait_for_url(f"**/console/bulk/{operation.pk}/")
    assert time.monotonic() - started < 15
