"""The history viewer in a real browser (issue 19, point 8): filter by kind and name, the
compact view, the waterfall, the whole history and one event downloaded as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import shot, signed_in
from workflows.models import CompensationRecord, Instance

pytestmark = pytest.mark.browser


def _wait_for_the_turn_after_the_failed_undo(instance_id: str) -> None:
    """The compensation record turns failed when the undo's outcome lands; the history
    grows until the orchestrator's turn that reads it sets the custom status."""
    wait_until(
        lambda: (
            (Instance.objects.get(instance_id=instance_id).custom_status or {}).get("state")
            == "compensation_failed"
        ),
        what="the orchestrator's turn after the failed undo",
    )


def test_filter_fold_lay_out_and_download_the_history(browser, server, people):
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    DurableClient().start("ui_order", {"id": 31}, instance_id="order-31")
    wait_until(lambda: CompensationRecord.objects.filter(status="failed").exists())
    _wait_for_the_turn_after_the_failed_undo("order-31")
    operator = signed_in(browser, server, people, "olga")
    operator.goto(f"{server.url}/instances/order-31/")
    events = operator.locator(".timeline > li")
    expect(events.first).to_be_visible()
    every = events.count()
    expect(operator.locator("#history-shown")).to_have_text(f"{every} of {every} events")

    operator.select_option("#history-view", "compact")
    scheduled = operator.locator(".timeline > li[data-kind=activity_scheduled]")
    expect(scheduled.first).to_be_hidden()  # folded into its completion or failure
    expect(operator.locator(".timeline > li[data-kind=activity_completed]")).to_contain_text("took")
    # A step's scheduled row folds into its outcome: ui_record, ui_fail and the undo.
    # expect() retries, so a live refresh of the page between two counts cannot fool it.
    expect(operator.locator(".timeline > li[data-folds]")).to_have_count(3)
    expect(operator.locator(".timeline > li:visible")).to_have_count(every - 3)

    operator.select_option("#history-view", "list")
    operator.select_option("#history-kind", "activity_failed")
    expect(operator.locator(".timeline > li:visible")).to_have_count(2)  # charge and its undo
    operator.select_option("#history-kind", "")
    operator.fill("#history-name", "ui_record")
    expect(operator.locator(".timeline > li:visible")).to_have_count(2)  # scheduled, completed
    operator.fill("#history-name", "")

    operator.select_option("#history-view", "waterfall")
    expect(operator.locator(".timeline")).to_be_hidden()
    bars = operator.locator(".waterfall .wf-row")
    expect(bars).to_have_count(3)  # ui_record, ui_fail, the undo (ui_fail)
    expect(operator.locator(".wf-bar.wf-bad")).to_have_count(2)
    shot(operator, "history-waterfall")

    with operator.expect_download() as whole:
        operator.click("[data-download-history]")
    history = json.loads(Path(whole.value.path()).read_text())
    instance = Instance.objects.get(instance_id="order-31")
    assert len(history["events"]) == instance.history_length
    assert [e["seq"] for e in history["events"]] == list(range(1, instance.history_length + 1))
    assert "execution_started" in {e["kind"] for e in history["events"]}

    operator.select_option("#history-view", "list")
    first = operator.locator(".timeline > li").first
    first.locator(".tl-json summary").click()
    with operator.expect_download() as one:
        first.locator("[data-download-from]").click()
    event = json.loads(Path(one.value.path()).read_text())
    assert event["kind"] == "execution_started"
    assert event == next(e for e in history["events"] if e["seq"] == event["seq"])


def test_a_filter_survives_two_refreshes_that_swap_before_either_settles(browser, server, people):
    """A push and the polling can both swap the instance page before the first settles
    (a slow server); the kind filter the person chose stays, and so does what it hides."""
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    DurableClient().start("ui_order", {"id": 32}, instance_id="order-32")
    _wait_for_the_turn_after_the_failed_undo("order-32")
    operator = signed_in(browser, server, people, "olga")
    operator.goto(f"{server.url}/instances/order-32/")
    expect(operator.locator("#history-shown")).to_contain_text(" of ")
    operator.select_option("#history-kind", "activity_failed")
    expect(operator.locator(".timeline > li:visible")).to_have_count(2)

    # Settling waits 1.5 s: the second refresh swaps while the first has not settled.
    operator.evaluate(
        """() => new Promise((done) => {
            htmx.config.defaultSettleDelay = 1500;
            let swaps = 0, settles = 0;
            document.body.addEventListener("htmx:afterSwap", () => {
                swaps += 1;
                if (swaps === 1) htmx.trigger(document.body, "live");
            });
            document.body.addEventListener("htmx:afterSettle", () => {
                settles += 1;
                if (settles === 2) done();
            });
            htmx.trigger(document.body, "live");
        })"""
    )

    expect(operator.locator("#history-kind")).to_have_value("activity_failed")
    expect(operator.locator(".timeline > li:visible")).to_have_count(2)
