"""GET /api/v1/instances/: search attributes (?attr.<name>=), sort, pages both ways, count."""

from __future__ import annotations

import base64
import json

import pytest

from workflows.models import Instance

pytestmark = pytest.mark.django_db

LIST = "/api/v1/instances/"


@pytest.fixture
def viewer(make_api):
    return make_api("view_instance", username="victor")


@pytest.fixture
def tagged(durable):
    for n in range(4):
        durable.start("t_chain", n, instance_id=f"i-{n}")
    Instance.objects.filter(instance_id="i-0").update(
        search_attributes={"customer": "acme", "amount": 5}
    )
    Instance.objects.filter(instance_id="i-2").update(search_attributes={"customer": "acme"})


def _cursor(value, pk) -> str:
    return "a" + base64.urlsafe_b64encode(json.dumps([value, pk]).encode()).decode().rstrip("=")


@pytest.mark.parametrize("name", ["contains", "isnull", "regex", "exact", "gt"])
def test_an_attribute_named_like_a_lookup_is_an_attribute(viewer, tagged, name):
    Instance.objects.filter(instance_id="i-3").update(search_attributes={name: "(("})
    assert ids(viewer.get(LIST, {f"attr.{name}": "(("})) == ["i-3"]
    assert ids(viewer.get(LIST, {f"attr.{name}": "a"})) == []


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def test_attribute_filter_and_the_attributes_in_each_item(viewer, tagged):
    response = viewer.get(LIST, {"attr.customer": "acme"})
    assert ids(response) == ["i-2", "i-0"]
    assert response.json()["results"][1]["search_attributes"] == {
        "customer": "acme",
        "amount": 5,
    }
    assert ids(viewer.get(LIST, {"attr.customer": "acme", "attr.amount": "5"})) == ["i-0"]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"attr.bad-name": "x"}, "attr.bad-name"),
        ({"attr.customer": "x" * 201}, "attr.customer"),
        ({"sort": "colour"}, "sort"),
        ({"updated_after": "yesterday"}, "updated_after"),
        ({"cursor": "aWxyz"}, "cursor"),
        ({"count": "maybe"}, "count"),
        ({"sort": "-updated", "cursor": _cursor("9999-12-31T23:59:59-05:00", 1)}, "cursor"),
        ({"sort": "-updated", "cursor": _cursor("2026-01-01T00:00:00", 1)}, "cursor"),
    ],
)
def test_bad_values_are_400_naming_the_parameter(viewer, tagged, query, param):
    response = viewer.get(LIST, query)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid_input"
    assert param in body["detail"]


def test_sorted_pages_both_ways_and_the_count(viewer, tagged):
    first = viewer.get(LIST, {"sort": "created", "limit": 3, "count": "true"}).json()
    assert [i["id"] for i in first["results"]] == ["i-0", "i-1", "i-2"]
    assert (first["total"], first["total_exact"], first["previous"]) == (4, True, None)
    second = viewer.get(first["next"]).json()
    assert [i["id"] for i in second["results"]] == ["i-3"]
    assert second["next"] is None
    back = viewer.get(second["previous"]).json()
    assert [i["id"] for i in back["results"]] == ["i-0", "i-1", "i-2"]
    assert viewer.get(LIST).json()["total"] is None  # counted only when asked
