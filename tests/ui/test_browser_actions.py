"""Operator actions in a real browser (issue 19, points 1, 2, 3, 5): a double click acts
once, what the state refuses is shown disabled with the reason, a failed saga whose undo
ran reads "failed — compensated", and a missing note is explained next to its field
without a confirm() first."""

from __future__ import annotations

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import signed_in
from workflows.models import AuditEntry, CompensationRecord, Instance

pytestmark = pytest.mark.browser


def _waiting_on_compensation(instance_id: str) -> CompensationRecord:
    from workflows.client import DurableClient

    DurableClient().start("ui_order", {"id": 17, "total": 240}, instance_id=instance_id)
    return wait_until(
        lambda: CompensationRecord.objects.filter(
            instance__instance_id=instance_id, status="failed"
        ).first(),
        what="the compensation to fail for good",
    )


def test_a_double_click_on_retry_retries_the_compensation_once(browser, server, people):
    from playwright.sync_api import expect

    record = _waiting_on_compensation("order-21")
    operator = signed_in(browser, server, people, "olga")
    operator.goto(f"{server.url}/instances/order-21/")
    expect(operator.locator("#live-state")).to_have_text("Live")

    operator.dblclick(".compensation-form button[data-decision=retry]")

    expect(operator.locator("#flash")).to_contain_text("runs again")
    # The retry runs ui_fail again, which fails again: the record is failed once more.
    wait_until(
        lambda: CompensationRecord.objects.filter(
            pk=record.pk, status="failed", attempts=2
        ).exists(),
        what="the retried compensation to fail again",
    )
    expect(operator.locator(".compensation-form")).to_be_visible()
    assert AuditEntry.objects.filter(action="compensation_retry").count() == 1
    assert CompensationRecord.objects.get(pk=record.pk).attempts == 2  # not 3


def test_refused_actions_are_shown_disabled_with_the_reason(browser, server, people):
    from playwright.sync_api import expect

    from workflows.client import DurableClient

    _waiting_on_compensation("order-22")
    DurableClient().start("ui_saga", {"id": 23}, instance_id="saga-23")
    wait_until(lambda: Instance.objects.filter(instance_id="saga-23", status="failed").exists())
    operator = signed_in(browser, server, people, "olga")

    operator.goto(f"{server.url}/instances/order-22/")
    retry = operator.locator("button[data-action=retry-episode]")
    expect(retry).to_be_disabled()
    expect(operator.locator("[data-why=retry-episode]")).to_contain_text(
        "waits for a decision on a failed compensation"
    )

    operator.goto(f"{server.url}/instances/saga-23/")
    expect(operator.locator(".instance-head .status")).to_have_text("failed — compensated")
    expect(operator.locator("button[data-action=rewind]")).to_be_disabled()
    expect(operator.locator("[data-why=rewind]")).to_contain_text("restart it instead")
    expect(operator.locator("button[data-action=restart]")).to_be_enabled()

    operator.goto(f"{server.url}/console/")
    expect(operator.locator(".tile-failed small")).to_have_text("1 compensated")
    expect(operator.locator("#overview [data-ending=compensated]").first).to_be_visible()

    # Undo steps an operator settled (resolved or skipped) read as such, not as a crash.
    CompensationRecord.objects.filter(instance__instance_id="saga-23").update(
        status="resolved_manually"
    )
    operator.reload()
    expect(operator.locator("#overview [data-ending=resolved-by-hand]").first).to_have_text(
        "failed — compensation resolved by hand"
    )


def test_a_missing_note_is_explained_next_to_the_field(browser, server, people):
    from playwright.sync_api import expect

    record = _waiting_on_compensation("order-24")
    browser.allow(r"status of 400")  # the refusals below answer 400
    phone = signed_in(browser, server, people, "olga", width=390, height=844)
    dialogs: list[str] = []
    phone.on("dialog", lambda dialog: dialogs.append(dialog.message))
    phone.goto(f"{server.url}/instances/order-24/")

    phone.click(".compensation-form button[data-decision=resolve]")

    error = phone.locator(f"#note-{record.pk}-error")
    expect(error).to_contain_text("Write what you did by hand")
    assert dialogs == [], "resolving asked for a confirm() first"
    measure = (  # measured while shown (a live refresh redraws it)
        """(pk) => {
            const error = document.getElementById(`note-${pk}-error`)?.getBoundingClientRect();
            const note = document.getElementById(`note-${pk}`)?.getBoundingClientRect();
            if (!error || !note || !error.height) return null;
            return {left: error.left, right: error.right, gap: error.top - note.bottom};
        }"""
    )
    placed = wait_until(lambda: phone.evaluate(measure, record.pk), what="the error's place")
    assert placed["left"] >= 0 and placed["right"] <= 390, placed
    assert 0 <= placed["gap"] < 80, f"the error is not by the field: {placed}"
    phone.evaluate(
        """() => { window.__refreshed = 0; document.addEventListener('htmx:afterSettle',
            (e) => { if (e.detail.target.id === 'instance-body') window.__refreshed++; }); }"""
    )
    wait_until(lambda: phone.evaluate("window.__refreshed > 0"), what="a live refresh")
    expect(error).to_contain_text("Write what you did by hand")
    assert phone.locator("#flash .msg").count() == 0
    record.refresh_from_db()
    assert record.status == "failed"

    phone.click(".compensation-form button[data-decision=skip]")  # destructive: confirmed
    expect(error).to_contain_text("Write why its undo is not needed")
    assert len(dialogs) == 1 and "Skip ui_fail?" in dialogs[0]


def test_a_refresh_during_a_click_does_not_swallow_it(browser, server, people):
    """A live refresh that lands between the press and the release of a click on a link
    in a refreshing part (the console's overview) is not swapped in: the click goes through
    (a refresh that replaced the link under the pointer once lost an operator's click)."""

    _waiting_on_compensation("order-25")
    operator = signed_in(browser, server, people, "olga")
    operator.goto(f"{server.url}/console/")
    link = operator.locator("#overview .attention-row a").first
    # hover() waits for the link to be there and stable (a polling refresh may be swapping
    # it at that moment) and leaves the pointer on it; a refresh after that redraws the
    # same row in the same place.
    link.hover()
    operator.evaluate(
        """() => { window.__refreshed = false;
            document.addEventListener("htmx:afterRequest", (e) => {
                if (e.detail.elt.id === "overview") window.__refreshed = true; }); }"""
    )
    operator.mouse.down()
    operator.evaluate("htmx.trigger(document.body, 'live')")  # a push arrives mid-click
    wait_until(lambda: operator.evaluate("() => window.__refreshed"), what="the refresh")
    operator.mouse.up()
    operator.wait_for_url("**/instances/order-25/")
