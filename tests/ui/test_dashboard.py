"""Dashboard: who may see it, the figures, the outcome chart, versions, histories, limits."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.support import versioning_workflows  # noqa: F401 - registers tv_order v1 and v2
from tests.ui.support import text
from workflows import versioning
from workflows.client import DurableClient
from workflows.conf import conf
from workflows.models import Instance
from workflows.ui import charts

pytestmark = pytest.mark.django_db

PAGE = "/console/dashboard/"
BODY = "/console/dashboard/body/"


def tile(html: str, label: str) -> str:
    """The figure of the tile called ``label``."""
    found = re.search(rf'data-tile="{re.escape(label)}"><strong>([^<]*)</strong>', html)
    assert found, f"no tile {label!r}"
    return found.group(1)


def buckets(html: str) -> list[tuple[int, int]]:
    """(completed, failed) of every bucket of the chart, oldest first."""
    pairs = re.findall(r'class="bucket" data-completed="(\d+)" data-failed="(\d+)"', html)
    return [(int(c), int(f)) for c, f in pairs]


# -- who may see it ------------------------------------------------------------------------
@pytest.mark.parametrize("url", [PAGE, BODY])
def test_the_dashboard_needs_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_the_dashboard_is_for_the_console_users(approver, outsider, viewer, operator):
    refused = approver.get(PAGE)

    assert refused.status_code == 403
    assert "console is for operators" in text(refused)
    assert outsider.get(BODY).status_code == 403
    assert viewer.get(PAGE).status_code == 200
    assert operator.get(PAGE).status_code == 200


def test_the_nav_offers_the_dashboard_to_console_users_only(approver, viewer):
    assert 'href="/console/dashboard/" aria-current="page">Dashboard' in text(viewer.get(PAGE))
    assert "/console/dashboard/" not in text(approver.get("/approvals/"))


def test_the_body_refreshes_itself_and_keeps_the_range(viewer, htmx):
    page = text(viewer.get(PAGE + "?range=14d"))
    body = viewer.get(BODY + "?range=14d", **htmx)

    assert 'hx-get="/console/dashboard/body/?range=14d"' in page
    assert 'hx-trigger="every 10s"' in page
    assert body.status_code == 200
    assert "<html" not in text(body) and "last 14 days" in text(body)


# -- figures -------------------------------------------------------------------------------
def test_an_empty_dashboard_explains_what_to_do(viewer):
    html = text(viewer.get(PAGE))

    assert tile(html, "need attention") == "0"
    assert tile(html, "oldest running") == "—"
    assert "No instance completed or failed in the last 24 hours" in html
    assert "durable serve" in html
    assert "No active instance has a history yet" in html


def test_tiles_show_the_figures_of_the_metrics(
    viewer, running, failed_compensation, pending_approval
):
    now = timezone.now()
    running("old", created_at=now - timedelta(hours=3))
    running("broken", status="failed", completed_at=now)
    failed_compensation("order-9")
    asked = pending_approval("claim-1")
    type(asked).objects.filter(pk=asked.pk).update(created_at=now - timedelta(minutes=20))

    html = text(viewer.get(PAGE))

    assert tile(html, "running") == "3"  # old, order-9, claim-1
    assert tile(html, "failed") == "1"
    assert tile(html, "need attention") == "1"
    assert tile(html, "failed compensations") == "1"
    assert tile(html, "oldest running") == "3 h"
    assert tile(html, "oldest approval wait") == "20 min"
    assert tile(html, "activities queued") == "0"
    assert 'href="/console/?status=failed#all-instances"' in html


# -- the chart -------------------------------------------------------------------------------
@pytest.fixture
def workers(transactional_db, worker):
    from tests.support.brokers import purge_queues

    purge_queues(conf.TASK_HUB)
    return worker


@pytest.mark.integration
def test_the_chart_counts_completions_and_failures_of_the_last_hours(workers, make_user):
    from django.test import Client

    durable = DurableClient()
    for n in range(3):
        durable.start("t_chain", 2, instance_id=f"chain-{n}")
    durable.start("t_non_retryable", None, instance_id="broken-1")
    ends = [durable.wait_for_completion(i, timeout=30).status for i in ("chain-0", "broken-1")]
    durable.wait_for_completion("chain-1", timeout=30)
    durable.wait_for_completion("chain-2", timeout=30)
    viewer = Client()
    viewer.force_login(make_user("victor", ("view_instance",)))

    html = text(viewer.get(PAGE))

    assert ends == ["completed", "failed"]
    bars = buckets(html)
    assert len(bars) == 24
    assert bars[-1] == (3, 1)  # this hour
    assert sum(c for c, _ in bars[:-1]) == sum(f for _, f in bars[:-1]) == 0
    assert "3 completed" in html and "1 failed" in html
    assert html.count('class="bar-completed"') == 1 and html.count('class="bar-failed"') == 1


def test_fourteen_days_count_per_day(viewer, running):
    now = timezone.now()
    running("done-3d", status="completed", completed_at=now - timedelta(days=3))
    running("done-2d", status="completed", completed_at=now - timedelta(days=2))
    running("fail-2d", status="failed", completed_at=now - timedelta(days=2))
    running("ended", status="terminated", completed_at=now - timedelta(days=2))  # neither
    running("gone", status="completed", completed_at=now - timedelta(days=20))  # too old

    day = text(viewer.get(PAGE))
    fortnight = text(viewer.get(PAGE + "?range=14d"))

    assert "No instance completed or failed in the last 24 hours" in day
    assert 'href="?range=14d"' in day
    bars = buckets(fortnight)
    assert len(bars) == 14
    assert bars[-4] == (1, 0) and bars[-3] == (1, 1)
    assert sum(c + f for c, f in bars) == 3


def test_bars_are_as_tall_as_their_counts():
    svg = charts.outcome_chart(
        [charts.Bar("00:00", "first", 4, 2), charts.Bar("01:00", "second", 0, 0)], "outcomes"
    )

    heights = {
        kind: float(h)
        for kind, h in re.findall(r'class="bar-(\w+)"[^>]* height="([\d.]+)"', str(svg))
    }
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert heights["completed"] == pytest.approx(2 * heights["failed"])
    assert "second: 0 completed, 0 failed" in svg  # empty buckets keep their tooltip
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 11, 180)] == [1, 1, 5, 10, 20, 200]


def test_chart_text_is_escaped():
    svg = charts.outcome_chart([charts.Bar("<b>", "<script>", 1, 0)], "a & b")

    assert "<script>" not in svg and "&lt;b&gt;" in svg and "a &amp; b" in svg


# -- versions --------------------------------------------------------------------------------
def test_versions_show_draining_and_missing_code(viewer, running):
    DurableClient().start("tv_order", "A", version=1, instance_id="old-order")
    running("orphan")  # t_chain, then pinned to a version whose code is gone
    Instance.objects.filter(instance_id="orphan").update(version=7)

    html = text(viewer.get(PAGE))

    versions = html[html.index('id="versions"') : html.index('id="histories"')]
    assert "tv_order" in versions and "draining" in versions and "latest" in versions
    missing = re.search(r'<tr class="version-missing">(.*?)</tr>', versions, re.S)
    assert missing and "v7" in missing.group(1) and "code missing" in missing.group(1)
    assert "durable check-replay" in missing.group(1)


def test_a_version_with_more_active_instances_than_the_cap_shows_a_bound(viewer, monkeypatch):
    client = DurableClient()
    for n in range(3):
        client.start("tv_order", n, version=1, instance_id=f"old-{n}")
    client.start("tv_order", "new", instance_id="new-1")
    monkeypatch.setattr(versioning, "DRAIN_COUNT_CAP", 2)

    html = text(viewer.get(PAGE))

    versions = html[html.index(">tv_order</a>") : html.index('id="histories"')]
    active = re.findall(r"<td>v(\d+)</td>\s*<td>([^<]*)</td>", versions)[:2]
    assert active == [("1", "2+"), ("2", "1")]  # more than 2, shown as a bound; 1 exact


# -- histories ------------------------------------------------------------------------------
def test_largest_histories_warn_above_the_threshold(viewer, running):
    running("long", history_length=12)
    running("short", history_length=2)
    running("finished-long", status="completed", history_length=50)

    with override_settings(DURABLE_HISTORY_WARNING_EVENTS=3):
        html = text(viewer.get(PAGE))
    quiet = text(viewer.get(PAGE))

    histories = html[html.index('id="histories"') : html.index('id="limits"')]
    assert histories.index("/instances/long/") < histories.index("/instances/short/")
    assert "finished-long" not in histories
    assert histories.count("continue_as_new(state) every so many") == 1  # long only
    assert "12 events (warning threshold 3" in histories
    assert "continue_as_new(state) every so many" not in quiet


def test_the_instance_page_warns_about_a_long_history(viewer, running):
    running("long", history_length=5)

    with override_settings(DURABLE_HISTORY_WARNING_EVENTS=3):
        warned = text(viewer.get("/instances/long/"))
    quiet = text(viewer.get("/instances/long/"))

    assert "Long history." in warned and "ctx.continue_as_new" in warned
    assert "5 events" in quiet and "Long history." not in quiet


# -- activity limits ----------------------------------------------------------------------------
def test_activity_limits_show_running_against_the_limit(viewer, monkeypatch):
    from workflows.limits import report

    row = report.LimitRow("partner_api", 5, 5, "100/m", 7, 95.0)
    monkeypatch.setattr(report, "limits_report", lambda hub=None: [row])

    html = text(viewer.get(PAGE))

    table = html[html.index('id="limits"') :]
    assert "partner_api" in table and "5 / 5" in table and "100/m" in table
    assert "1 min 35 s" in table


def test_without_limits_the_section_says_how_to_add_them(viewer, monkeypatch):
    from workflows.limits import report

    monkeypatch.setattr(report, "limits_report", lambda hub=None: [])

    assert "No activity is limited" in text(viewer.get(PAGE))
