"""The Start page in a real browser (issue 19, point 11): the workflow's description and
example input (declared on the decorator, pre-filled), JSON checked as it is typed, a
version picker."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.checks import wait_until
from tests.ui.browsing import shot, signed_in
from workflows.models import Instance

pytestmark = pytest.mark.browser


def test_the_example_is_prefilled_checked_as_typed_and_a_version_picked(browser, server, people):
    from playwright.sync_api import expect

    operator = signed_in(browser, server, people, "olga")
    operator.goto(f"{server.url}/start/?name=ui_purchase")
    typed = operator.locator("#id_input")
    assert json.loads(typed.input_value())["item"] == "laptops"  # pre-filled
    expect(operator.locator("#input-check")).to_have_text("Valid JSON.")
    shot(operator, "start-example")

    operator.select_option("#id_name", "ui_greet")  # another workflow: its own example
    assert json.loads(typed.input_value()) == {"who": "Ada"}
    expect(operator.locator("#workflow-description")).to_have_text(
        "Says hello to a person, by name."
    )
    versions = operator.locator("#id_version option:not([hidden])")
    expect(versions).to_have_text(["newest", "version 1", "version 2"])

    typed.fill('{"who": "Ada"')
    expect(operator.locator("#input-check")).to_have_text(re.compile("^Not valid JSON yet"))
    expect(typed).to_have_attribute("aria-invalid", "true")
    typed.fill('"Grace"')
    expect(operator.locator("#input-check")).to_have_text("Valid JSON.")
    operator.select_option("#id_version", "1")
    operator.fill("#id_instance_id", "greet-1")
    operator.click("main form button[type=submit]")
    operator.wait_for_url("**/instances/greet-1/")
    instance = wait_until(lambda: Instance.objects.filter(instance_id="greet-1").first())
    assert (instance.version, instance.input) == (1, "Grace")

    operator.goto(f"{server.url}/start/?name=ui_purchase")
    operator.select_option("#id_name", "ui_expense")  # no example: the typed text stays
    typed.fill('{"amount": 3}')
    operator.select_option("#id_name", "ui_purchase")
    assert json.loads(typed.input_value()) == {"amount": 3}
