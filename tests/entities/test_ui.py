"""The entities console page: in a real browser (Playwright + chromium against `durable
serve`, whose embedded worker applies the operations) search, read an entity's state,
its lock holder and recent operations with their sender instance linked, and signal it;
with the Django test client: who may see what and signal. Screenshots land in
artifacts/screenshots/entities-*.png."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.schedules.conftest import grant
from tests.support.checks import wait_until
from tests.ui.browsing import _hashed, browser, chromium, server, shot, signed_in  # noqa: F401
from tests.ui.server import ServeProcess
from workflows.entities.batches import run_entity
from workflows.entities.models import Entity, EntityOperation

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "eva-pass-1"


@pytest.fixture
def make_user(db) -> Callable[..., Any]:
    from django.contrib.auth import get_user_model

    def make(username: str, *codenames: str) -> Any:
        user = get_user_model().objects.create_user(username, password="pw-" + username)
        grant(user, *codenames)
        return get_user_model().objects.get(pk=user.pk)

    return make


@pytest.fixture(scope="module")
def serving(django_db_setup, django_db_blocker) -> Iterator[ServeProcess]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    with django_db_blocker.unblock():
        serving = ServeProcess("tests.entities.workflows").start()
    yield serving
    serving.stop()


@pytest.fixture
def people(make_user) -> dict[str, str]:
    eva = make_user("eva", "view_instance", "view_payloads", "signal_entity")
    eva.password = _hashed(PASSWORD)
    eva.save(update_fields=["password"])
    return {"eva": PASSWORD}


@pytest.mark.browser
def test_search_read_and_signal_in_the_browser(browser, server, people, durable_client):  # noqa: F811
    holder = durable_client.start("t_hold", "shown")
    wait_until(
        lambda: Entity.objects.filter(key="shown", lock_holder=holder).exists(),
        timeout=60,
        what="the orchestration holds the lock",
    )
    wait_until(
        lambda: (Entity.objects.get(key="shown").state or []) == [f"{holder}:in"],
        timeout=60,
        what="its first call applied",
    )
    page = signed_in(browser, server, people, "eva")
    page.click("nav >> text=Entities")
    page.wait_for_selector("h1:has-text('Entities')")
    page.select_option("#entity-search select[name=name]", "t_log")
    page.fill("#entity-search input[name=key]", "sho")
    page.click("#entity-search button[type=submit]")
    page.click("#entities a:has-text('@t_log@shown')")
    page.wait_for_selector("#entity-state")
    assert f"{holder}:in" in page.inner_text("#entity-state")
    assert holder in page.inner_text("#lock-holder")
    page.click(f"#lock-holder a:has-text('{holder}')")
    page.wait_for_selector(f"#instance-id:has-text('{holder}')")
    assert "@t_log@shown" in page.inner_text("#entity-locks")  # the instance page says so
    page.click("#entity-locks a")
    page.wait_for_selector("#entity-state")
    assert page.locator(f"#recent a:has-text('{holder}')").count() >= 1  # sender linked

    page.fill("#signal-form input[name=operation]", "append")
    page.fill("#signal-form textarea[name=input]", '"from the console"')
    page.click("#signal-form button[type=submit]")
    page.wait_for_selector(".notice:has-text('append queued for @t_log@shown')")
    assert "append" in page.inner_text("#queued")  # waits: the lock is held
    shot(page, "entities-locked")

    durable_client.raise_event(holder, "go", "ok")
    wait_until(
        lambda: (Entity.objects.get(key="shown").state or [])[-1:] == ["from the console"],
        timeout=60,
        what="released, then the console's signal applied",
    )
    page.reload()
    assert "free" in page.inner_text("#lock-holder")
    assert "from the console" in page.inner_text("#entity-state")
    page.click(f"#recent a:has-text('{holder}')")
    page.wait_for_selector(f"#instance-id:has-text('{holder}')")


@pytest.mark.django_db
def test_who_may_see_and_signal(make_user):
    from workflows.client import DurableClient

    DurableClient().signal_entity(("t_log", "k"), "append", "secret")
    row = Entity.objects.get()
    run_entity(row.pk, row.task_hub)
    client = Client()

    client.force_login(make_user("nobody"))
    assert client.get("/console/entities/").status_code == 403
    assert client.get("/console/entities/t_log/k/").status_code == 403

    client.force_login(make_user("vera", "view_instance"))
    page = client.get("/console/entities/t_log/k/")
    assert page.status_code == 200 and b"secret" not in page.content
    assert b'id="state-hidden"' in page.content and b"signal-form" not in page.content
    assert (
        client.post("/console/entities/t_log/k/signal/", {"operation": "append"}).status_code == 403
    )

    client.force_login(make_user("sia", "view_instance", "view_payloads", "signal_entity"))
    page = client.get("/console/entities/t_log/k/")
    assert b"secret" in page.content and b"signal-form" in page.content
    bad = client.post("/console/entities/t_log/k/signal/", {"operation": "steal"})
    assert bad.status_code == 400 and b"has no operation" in bad.content
    assert not EntityOperation.objects.exists()
    listed = client.get("/console/entities/", {"name": "t_log"})
    assert b"@t_log@k" in listed.content
    assert client.get("/console/entities/t_log/none/").status_code == 404
