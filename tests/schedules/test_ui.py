"""The schedules console page: in a real browser (Playwright + chromium against `durable
serve`, whose embedded worker runs the sweeper and the driver) create (a bad cron named,
nothing created), pause with a note, resume, run now, follow the run to its instance page
and back; with the Django test client: who may see and change. Screenshots land in
artifacts/screenshots/schedules-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from tests.support.checks import wait_until
from tests.ui.browsing import _hashed, browser, chromium, server, shot, signed_in  # noqa: F401
from tests.ui.server import ServeProcess
from workflows.models import Instance
from workflows.schedules.models import Schedule

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "sam-pass-1"


def _never_during_the_test(zone: str) -> str:
    """A daily cron twelve hours from now in ``zone``: no tick falls while the test runs.
    A "*/5" schedule ticked when a slow run crossed a five-minute mark, and its run of
    s_wait (still waiting) made "Run now" skip by the overlap policy."""
    return f"0 {(datetime.now(ZoneInfo(zone)).hour + 12) % 24} * * *"


@pytest.fixture(scope="module")
def serving(django_db_setup, django_db_blocker) -> Iterator[ServeProcess]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    with django_db_blocker.unblock():
        serving = ServeProcess("tests.schedules.workflows").start()
    yield serving
    serving.stop()


@pytest.fixture
def people(make_user) -> dict[str, str]:
    sam = make_user("sam", "manage_schedule", "view_instance", "view_payloads")
    sam.password = _hashed(PASSWORD)
    sam.save(update_fields=["password"])
    return {"sam": PASSWORD}


@pytest.mark.browser
def test_create_pause_resume_and_run_now_in_the_browser(browser, server, people):  # noqa: F811
    browser.allow(r"status of 400")  # the bad cron, on purpose
    page = signed_in(browser, server, people, "sam")
    page.click("nav >> text=Schedules")
    page.wait_for_selector("h1:has-text('Schedules')")

    page.fill("#schedule-form input[name=id]", "probe")
    page.select_option("#schedule-form select[name=orchestrator]", "s_wait")
    page.fill("#schedule-form input[name=cron]", "61 * * * *")
    page.click("#schedule-form button[type=submit]")
    assert page.inner_text("#schedule-error").startswith("cron: invalid cron expression")
    assert not Schedule.objects.filter(schedule_id="probe").exists()

    cron = _never_during_the_test("Europe/Berlin")
    page.fill("#schedule-form input[name=cron]", cron)
    page.fill("#schedule-form input[name=timezone]", "Europe/Berlin")
    page.click("#schedule-form button[type=submit]")
    row = page.locator("#schedule-probe")
    row.wait_for()
    assert cron in row.inner_text() and "Europe/Berlin" in row.inner_text()
    assert row.locator(".next-runs").inner_text().strip()

    row.locator("input[name=note]").fill("deploy freeze")
    row.locator("button:has-text('Pause')").click()
    page.wait_for_selector("#schedule-probe[data-paused=yes]")
    assert "by sam: deploy freeze" in page.locator("#schedule-probe .next-runs").inner_text()
    shot(page, "schedules-paused")
    page.locator("#schedule-probe button:has-text('Resume')").click()
    page.wait_for_selector("#schedule-probe[data-paused=no]")

    page.locator("#schedule-probe button:has-text('Run now')").click()
    page.wait_for_selector(".notice:has-text('Run of probe started: probe@')")
    run = Instance.objects.get(instance_id__startswith="probe@")
    # the embedded worker runs it: s_wait waits for its event
    wait_until(lambda: Instance.objects.get(pk=run.pk).status == "running", timeout=60, what="run")
    page.reload()
    page.locator("#schedule-probe .last-runs a").click()
    page.wait_for_selector("#started-by-schedule")
    assert page.inner_text("#started-by-schedule") == "Started by schedule probe"
    shot(page, "schedules-instance")
    page.click("#started-by-schedule a")
    page.wait_for_selector("#schedule-probe")


@pytest.mark.django_db
def test_who_may_see_and_change_the_page(make_user):
    from workflows.client import DurableClient

    client = Client()
    DurableClient().create_schedule("s", {"orchestrator": "s_quick", "cron": "0 * * * *"})
    viewer = make_user("vera", "view_instance")
    client.force_login(viewer)
    page = client.get("/console/schedules/")
    assert page.status_code == 200 and b'id="schedule-s"' in page.content
    assert b"schedule-form" not in page.content  # no manage_schedule: no create form
    assert client.post("/console/schedules/s/pause/").status_code == 403
    assert not Schedule.objects.get().paused

    client.force_login(make_user("nobody"))
    assert client.get("/console/schedules/").status_code == 403

    manager = make_user("max", "view_instance", "manage_schedule")
    client.force_login(manager)
    assert client.post("/console/schedules/s/pause/", {"note": "n"}).status_code == 302
    assert Schedule.objects.get().paused_by == "max"
    bad = client.post(
        "/console/schedules/create/",
        {"id": "t", "orchestrator": "s_quick", "cron": "0 * * * *", "timezone": "Nowhere"},
    )
    assert bad.status_code == 400 and b"timezone: unknown time zone" in bad.content
    assert Schedule.objects.count() == 1


def test_delete_asks_for_the_id_typed_again(make_user):
    from workflows.client import DurableClient

    DurableClient().create_schedule("nightly", {"orchestrator": "s_quick", "cron": "0 2 * * *"})
    client = Client()
    client.force_login(make_user("max", "view_instance", "manage_schedule"))
    page = client.get("/console/schedules/")
    assert b'action="/console/schedules/nightly/delete/"' in page.content

    wrong = client.post("/console/schedules/nightly/delete/", {"confirm": "nightl"})
    assert wrong.status_code == 400 and b"Type the schedule id" in wrong.content
    assert Schedule.objects.filter(schedule_id="nightly").exists()

    done = client.post("/console/schedules/nightly/delete/", {"confirm": "nightly"})
    assert done.status_code == 302
    assert not Schedule.objects.filter(schedule_id="nightly").exists()


def test_the_form_takes_every_field_and_names_a_wrong_one(make_user):
    client = Client()
    client.force_login(make_user("max", "view_instance", "manage_schedule"))
    fields = {"id": "w", "orchestrator": "s_quick", "interval": "600", "offset": "30"}
    bad = client.post("/console/schedules/create/", {**fields, "end_at": "next week"})
    assert bad.status_code == 400 and b"end_at: give an ISO 8601 date" in bad.content
    assert not Schedule.objects.exists()

    good = {**fields, "jitter": "5", "end_at": "2030-01-01T00:00:00Z", "version": ""}
    assert client.post("/console/schedules/create/", good).status_code == 302
    made = Schedule.objects.get(schedule_id="w")
    assert (made.interval_seconds, made.offset_seconds, made.jitter_seconds) == (600, 30, 5)
    assert made.end_at.year == 2030
