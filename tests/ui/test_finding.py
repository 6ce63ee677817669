"""Console: finding instances (search attributes, time ranges, sort, count, page size,
newer and older pages) and saved views; the instance page shows the attributes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from workflows.models import Instance, SavedView

pytestmark = pytest.mark.django_db


def listed(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [i.instance_id for i in response.context["items"]]


@pytest.fixture
def tagged(running):
    for n in range(6):
        running(f"i-{n}", name="t_chain" if n % 2 else "t_timer")
    Instance.objects.filter(instance_id="i-0").update(
        search_attributes={"customer": "acme", "region": "eu", "vip": True}
    )
    Instance.objects.filter(instance_id="i-3").update(search_attributes={"customer": "acme"})


def test_search_attributes_filter_and_show_in_the_list(viewer, tagged, htmx):
    response = viewer.get("/console/instances/?attrs=customer%3Dacme", **htmx)
    assert listed(response) == ["i-3", "i-0"]
    html = response.content.decode()
    assert '<span class="attr-name">region</span>=eu' in html
    assert response.context["total"] == 2
    assert "2 instances" in html
    both = viewer.get("/console/instances/?attrs=customer%3Dacme,+region%3Deu", **htmx)
    assert listed(both) == ["i-0"]
    assert listed(viewer.get("/console/instances/?attrs=vip%3DTrue", **htmx)) == ["i-0"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("attrs=customer", "'customer' is not name=value"),
        ("attrs=bad+name%3Dx", "search attribute name 'bad name' is not valid"),
        ("created_after=yesterday", "Started from: use a date and time"),
        ("updated_before=2026-13-01T00:00", "Changed before: use a date and time"),
        ("created_after=9999-12-31T23:59-05:00", "Started from: use a date and time"),
        ("sort=colour", "Order: colour is not a column to sort by"),
        ("size=1000", "Page size: 1000 is not one of 10, 25, 50, 100"),
        ("cursor=zzz", "is not a cursor of this list"),
        (
            "created_after=2026-02-01T00:00&created_before=2026-01-01T00:00",
            "Started before must be later than started from",
        ),
    ],
)
def test_bad_filter_values_are_named_and_list_nothing(viewer, tagged, htmx, query, words):
    response = viewer.get(f"/console/instances/?{query}", **htmx)
    assert response.status_code == 200
    assert response.context["items"] == []
    assert words in response.context["error"]
    assert words.split("'")[0] in response.content.decode()


def test_time_ranges_sort_and_page_size(viewer, tagged, htmx):
    now = timezone.now()
    Instance.objects.filter(instance_id__in=["i-0", "i-1"]).update(
        created_at=now - timedelta(days=3), updated_at=now - timedelta(days=3)
    )
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert listed(viewer.get(f"/console/instances/?created_after={since}", **htmx)) == [
        "i-5",
        "i-4",
        "i-3",
        "i-2",
    ]
    assert listed(viewer.get(f"/console/instances/?updated_before={since}", **htmx)) == [
        "i-1",
        "i-0",
    ]
    by_name = viewer.get("/console/instances/?sort=name&size=10", **htmx)
    assert listed(by_name)[:3] == ["i-1", "i-3", "i-5"]  # t_chain first, then by id
    html = by_name.content.decode()
    assert 'aria-sort="ascending"' in html
    assert "sort=-name" in html  # the header sorts the other way next
    assert "sorted by workflow ↑" in html


def test_a_time_with_an_offset_is_that_instant_and_one_without_is_utc(viewer, tagged, htmx):
    # time.js sends what a person types with their zone's offset; links and the API
    # send none and mean UTC. The form shows either in UTC (the script converts it).
    Instance.objects.filter(instance_id="i-0").update(
        created_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    )
    Instance.objects.exclude(instance_id="i-0").update(created_at=datetime(2026, 3, 2, tzinfo=UTC))
    within = "created_after=2026-03-01T06:30-05:00&created_before=2026-03-01T13:00:01+01:00"
    response = viewer.get(f"/console/instances/?{within.replace('+', '%2B')}", **htmx)
    assert listed(response) == ["i-0"]
    assert listed(viewer.get("/console/instances/?created_before=2026-03-01T12:00", **htmx)) == []
    assert listed(viewer.get("/console/instances/?created_before=2026-03-01T12:01", **htmx)) == [
        "i-0"
    ]
    page = viewer.get("/console/?created_after=2026-03-01T07:30-05:00")
    html = page.content.decode()
    assert 'name="created_after" value="2026-03-01T12:30" data-zoned' in html
    assert "(<span data-zone-label>UTC</span>)" in html


def test_newer_and_older_pages(viewer, running, htmx):
    for n in range(23):
        running(f"p-{n:02d}")
    first = viewer.get("/console/instances/?size=10", **htmx)
    assert listed(first)[0] == "p-22" and "previous_query" not in first.context
    second = viewer.get(f"/console/instances/?{first.context['next_query']}", **htmx)
    assert listed(second) == [f"p-{n:02d}" for n in range(12, 2, -1)]
    html = second.content.decode()
    assert "Newer" in html and "Older" in html
    back = viewer.get(f"/console/instances/?{second.context['previous_query']}", **htmx)
    assert listed(back) == listed(first)


def test_the_count_is_capped(viewer, tagged, htmx, monkeypatch):
    from workflows import listing

    monkeypatch.setattr(listing.capped_count, "__defaults__", (3,))
    response = viewer.get("/console/instances/", **htmx)
    assert (response.context["total"], response.context["total_exact"]) == (3, False)
    assert "+ instances (counting stops there)" in response.content.decode()


def test_extra_filters_offer_only_picked_rows_for_bulk_actions(operator, tagged, htmx):
    response = operator.get("/console/instances/?attrs=customer%3Dacme", **htmx)
    assert response.context["bulk"]["total"] == 0  # no "select all matching"
    plain = operator.get("/console/instances/?name=t_chain", **htmx)
    assert plain.context["bulk"]["total"] == 3


def test_saved_views_are_per_user(viewer, make_user, tagged, htmx):
    from django.test import Client

    saved = viewer.post(
        "/console/views/",
        {"view_name": "ACME", "attrs": "customer=acme", "status": "running", "cursor": "9"},
        **htmx,
    )
    assert saved.status_code == 200
    view = SavedView.objects.get()
    assert (view.name, view.query) == ("ACME", "status=running&attrs=customer%3Dacme")
    assert 'data-view="ACME"' in saved.content.decode()
    page = viewer.get(f"/console/?{view.query}")
    assert listed(page) == ["i-3", "i-0"]
    again = viewer.post("/console/views/", {"view_name": "ACME", "name": "t_chain"}, **htmx)
    assert again.status_code == 200
    assert SavedView.objects.get().query == "name=t_chain"  # the same name replaces it

    other = Client()
    other.force_login(make_user("wendy", ("view_instance",)))
    assert "ACME" not in other.get("/console/").content.decode()
    assert other.post(f"/console/views/{view.pk}/delete/", **htmx).status_code == 404
    assert viewer.post(f"/console/views/{view.pk}/delete/", **htmx).status_code == 200
    assert not SavedView.objects.exists()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"view_name": ""}, "give the view a name"),
        ({"view_name": "x" * 81}, "at most 80 characters"),
        ({"view_name": "ok", "sort": "colour"}, "not a column to sort by"),
        ({"view_name": "ok", "attrs": "1x=2"}, "is not valid"),
    ],
)
def test_a_bad_view_is_refused_next_to_the_name_and_nothing_saved(viewer, htmx, data, words):
    response = viewer.post("/console/views/", data, **htmx)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#saved-view-error"
    assert words in response.content.decode()
    assert not SavedView.objects.exists()


def test_saved_views_need_the_console(approver):
    assert approver.post("/console/views/", {"view_name": "x"}).status_code == 403


def test_the_instance_page_shows_the_attributes_and_their_history_row(viewer, durable):
    from tests.support.driver import drive

    durable.start("t_tagged", {"customer": "acme"}, instance_id="tag-1")
    drive()
    html = viewer.get("/instances/tag-1/").content.decode()
    assert "Search attributes</dt>" in html
    assert "?attrs=customer%3Dacme#all-instances" in html
    assert "Search attributes set" in html
    assert "customer=acme" in html
