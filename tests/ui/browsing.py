"""Browser fixtures of the UI tests (Playwright + Debian's chromium) against a real ASGI
server: ``durable serve`` (daphne + embedded worker) on the test database.

Every page the tests open is watched: an uncaught script error (``pageerror``) or a
console error fails the test at teardown, unless the test expected it
(``browser.allow(r"status of 403")`` for a refusal it provokes on purpose).

Imported by tests/ui/conftest.py, so every module of tests/ui gets these fixtures.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.support.brokers import purge_queues
from tests.ui.server import ServeProcess
from workflows.conf import conf

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# How long an action, a navigation or an expectation may wait: a wait, not a timing (it
# only matters when the machine is slow, as a loaded CI machine is; a CI run with a second
# `make test` beside it spent over 20 s on one navigation).
WAIT_MS = 60_000
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1400, "height": 900}
PASSWORDS = {"mia": "mia-pass-1", "olga": "olga-pass-1", "otto": "otto-pass-1", "root": "root-p-1"}


class WatchedBrowser:
    """The module's Browser, with every page's script errors and console errors kept."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """Expect console errors matching ``pattern`` (e.g. a refusal's 4xx) in this test."""
        self.allowed.append(re.compile(pattern))

    def new_context(self, **options: Any) -> Any:
        context = self.browser.new_context(**options)
        context.on("page", self._watch)
        return context

    def new_page(self, **options: Any) -> Any:
        return self.new_context(**options).new_page()

    def _watch(self, page: Any) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror on {page.url}: {exc}"))
        page.on(
            "console",
            lambda msg: msg.type == "error" and self.errors.append(f"{page.url}: {msg.text}"),
        )

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    @property
    def contexts(self) -> list[Any]:
        return self.browser.contexts


@pytest.fixture(scope="module")
def serving(django_db_setup, django_db_blocker) -> Iterator[ServeProcess]:
    """One server for the module; each test still gets an emptied database."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    with django_db_blocker.unblock():
        serving = ServeProcess("tests.support.ui_workflows").start()
    yield serving
    serving.stop()


@pytest.fixture(scope="module")
def chromium(serving) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API keeps an event loop open in this thread; the test's own ORM
    # calls are plain sequential code, so Django's async guard may step aside.
    unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()
    if unsafe is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe


@pytest.fixture
def server(transactional_db, serving) -> Iterator[ServeProcess]:
    purge_queues(conf.TASK_HUB)
    yield serving
    # Connections the test opened while Playwright ran belong to that context: close
    # them, or PostgreSQL cannot empty (or finally drop) the test database.
    connections.close_all()


@pytest.fixture
def browser(server, chromium) -> Iterator[WatchedBrowser]:
    watched = WatchedBrowser(chromium)
    yield watched
    for context in chromium.contexts:
        context.close()
    unexpected = watched.unexpected()
    assert not unexpected, "errors in the browser console:\n" + "\n".join(unexpected)


@pytest.fixture
def people(make_user) -> dict[str, str]:
    """Usernames -> passwords: an approver, an operator, someone in no group, a superuser."""
    for who, groups, perms in (
        ("mia", ("managers",), ()),
        ("olga", (), OPERATOR_PERMS),
        ("otto", (), ()),
    ):
        user = make_user(who, perms, groups)
        user.password = _hashed(PASSWORDS[who])  # hashing is slow on purpose: once a run
        user.save(update_fields=["password"])
    root = make_user("root", is_superuser=True, is_staff=True)
    root.password = _hashed(PASSWORDS["root"])
    root.save(update_fields=["password"])
    return PASSWORDS


OPERATOR_PERMS = (
    "view_instance",
    "operate_instance",
    "view_payloads",
    "raise_event",
    "start_instance",
)


@functools.cache
def _hashed(password: str) -> str:
    from django.contrib.auth.hashers import make_password

    return make_password(password)


def signed_in(
    browser: Any,
    server: ServeProcess,
    people: dict[str, str],
    who: str,
    width: int = 1280,
    height: int = 900,
    **options: Any,
):
    """A new page of ``who``, signed in, at width x height; ``options`` go to the browser
    context (e.g. ``timezone_id="Europe/Berlin"``)."""
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm: the person says yes
    page.goto(f"{server.url}/login/")
    page.fill("#id_username", who)
    page.fill("#id_password", people[who])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
