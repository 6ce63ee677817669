"""Console: who may see it, counts, what needs attention, failures, long waits, filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.ui.support import text
from workflows.models import Instance

pytestmark = pytest.mark.django_db


def test_the_console_needs_the_view_or_operate_permission(approver, outsider, viewer, make_user):
    from django.test import Client

    operator_only = Client()
    operator_only.force_login(make_user("oscar", ("operate_instance",)))

    assert approver.get("/console/").status_code == 403
    assert "console is for operators" in outsider.get("/console/").content.decode()
    assert viewer.get("/console/").status_code == 200
    assert operator_only.get("/console/").status_code == 200


def test_home_sends_operators_to_the_console_and_others_to_their_approvals(viewer, approver):
    assert viewer.get("/")["Location"] == "/console/"
    assert approver.get("/")["Location"] == "/approvals/"


def test_counts_by_status_and_what_needs_attention_first(viewer, running, failed_compensation):
    running("a-1")
    running("a-2", status="completed")
    running("a-3", status="failed", completed_at=timezone.now())
    failed_compensation("order-9")

    response = viewer.get("/console/")

    html = response.content.decode()
    counts = dict(response.context["counts"])
    assert counts["running"] == 2 and counts["completed"] == 1 and counts["failed"] == 1
    assert response.context["attention_count"] == 1
    attention = html.index("Needs attention</h2>")
    assert attention < html.index("order-9") < html.index("Failed</h2>")
    assert "A compensation failed for good" in html  # the reason, without the error text
    assert "failed: boom" not in html  # that needs view_payloads (tests/ui/test_redaction.py)
    assert "Failed compensations" in html
    assert 'href="/instances/a-3/"' in html


def test_long_waiting_instances_come_oldest_first_with_their_wait(viewer, running):
    now = timezone.now()
    running("young", updated_at=now - timedelta(minutes=1))
    running("old", updated_at=now - timedelta(hours=3), created_at=now - timedelta(days=1))
    running("done", status="completed", updated_at=now - timedelta(days=2))

    response = viewer.get("/console/")

    waiting = [w.instance_id for w in response.context["waiting"]]
    assert waiting == ["old", "young"]
    assert "3 h" in response.content.decode()


def test_an_empty_console_explains_itself(viewer):
    html = viewer.get("/console/").content.decode()

    assert "Nothing needs a person right now" in html
    assert "No instances yet" in html


def test_search_by_id_name_or_business_key(viewer, running):
    running("order-17", key="ORD-17")
    running("order-18", key="ORD-18")
    running("invoice-1", name="t_fan_out")

    by_id = viewer.get("/console/?q=order-1").context["items"]
    by_key = viewer.get("/console/?business_key=ORD-18").context["items"]
    by_name = viewer.get("/console/?name=t_fan_out").context["items"]
    by_status = viewer.get("/console/?status=completed").content.decode()

    assert {i.instance_id for i in by_id} == {"order-17", "order-18"}
    assert [i.instance_id for i in by_key] == ["order-18"]
    assert [i.instance_id for i in by_name] == ["invoice-1"]
    assert "No instance matches these filters" in by_status


def test_the_list_pages_with_a_cursor(viewer, running, htmx):
    for i in range(27):
        running(f"batch-{i:02d}")

    first = viewer.get("/console/instances/?q=batch", **htmx)
    second = viewer.get(f"/console/instances/?{first.context['next_query']}", **htmx)

    assert len(first.context["items"]) == 25
    assert [i.instance_id for i in second.context["items"]] == ["batch-01", "batch-00"]
    assert "next_query" not in second.context
    assert second["HX-Push-Url"].startswith("/console/?q=batch&cursor=")
    assert "First page" in second.content.decode()


def test_a_live_refresh_of_the_list_does_not_change_the_address(viewer, running, htmx):
    running("a-1")

    response = viewer.get("/console/instances/", HTTP_HX_TRIGGER="instance-list", **htmx)

    assert "HX-Push-Url" not in response
    assert "a-1" in response.content.decode()


def test_a_bad_filter_is_shown_not_raised(viewer):
    response = viewer.get("/console/?status=sleeping")

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_the_needs_attention_filter(viewer, running, failed_compensation):
    running("calm")
    failed_compensation("order-9")

    items = viewer.get("/console/?attention=on").context["items"]

    assert [i.instance_id for i in items] == ["order-9"]


def test_the_overview_fragment_refreshes_alone(viewer, running, htmx):
    running("a-1")

    response = viewer.get("/console/overview/", **htmx)

    assert response.status_code == 200
    assert "<html" not in response.content.decode()


def _nav(html: str) -> str:
    return html[html.index('<nav class="nav"') : html.index("</nav>")]


def test_nav_shows_what_the_user_may_use(viewer, approver, operator):
    approver_nav = _nav(approver.get("/approvals/").content.decode())
    viewer_nav = _nav(viewer.get("/console/").content.decode())
    operator_nav = _nav(operator.get("/console/").content.decode())

    assert 'href="/console/"' not in approver_nav and 'href="/start/"' not in approver_nav
    assert 'href="/console/"' in viewer_nav and 'href="/start/"' not in viewer_nav
    assert 'href="/start/"' in operator_nav
    assert Instance.objects.count() == 0


def test_a_compensated_saga_is_shown_apart_from_unexpected_failures(operator, running):
    from workflows.models import CompensationRecord

    saga = running("saga-1", status="failed", name="ui_order", failure={"type": "OrderFailed"})
    running("crash-1", status="failed", failure={"type": "ValueError", "message": "boom"})
    CompensationRecord.objects.create(
        instance=saga,
        execution_id=saga.execution_id,
        task_id=2,
        compensation_id="saga-1:x:comp:2",
        activity="release",
        order=1,
        status="compensated",
    )

    console = text(operator.get("/console/"))
    listing = text(operator.get("/console/instances/?status=failed"))
    page = text(operator.get("/instances/saga-1/"))
    crash = text(operator.get("/instances/crash-1/"))

    assert "1 compensated" in console  # the Failed tile
    assert console.count("failed — compensated") == 2  # the Failed panel and the list
    assert listing.count("failed — compensated") == 1
    assert "failed — compensated" in page and "nothing to recover" in page
    assert "failed — compensated" not in crash
