"""Finding instances through DurableClient.query: search attributes set by a real episode,
sorts with keyset pages both ways, time ranges, the capped count, and bad filters."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from tests.support.driver import drive
from workflows import listing
from workflows.engine import orchestrator
from workflows.engine.errors import InvalidInput
from workflows.models import ACTIVE_STATUSES, HistoryEvent, Instance

pytestmark = pytest.mark.django_db


def test_an_orchestrator_sets_attributes_that_the_row_and_history_keep(client):
    client.start("t_tagged", {"customer": "acme", "region": "eu"}, instance_id="tag-1")
    drive()
    state = client.get_status("tag-1", history=True)
    assert state.status == "completed"
    assert state.search_attributes == {"customer": "acme", "region": "eu", "total": 2}
    kinds = [e["kind"] for e in state.history]
    assert kinds.count("search_attributes_upserted") == 2
    first = HistoryEvent.objects.filter(kind="search_attributes_upserted").order_by("seq")[0]
    assert first.payload["attributes"] == {"customer": "acme", "region": "eu"}


@orchestrator(name="t_tag_generations")
def t_tag_generations(ctx, n):
    """15 new attributes per execution, three executions: the second one is over 20."""
    ctx.upsert_search_attributes({f"g{n}_{i}": i for i in range(15)})
    yield ctx.call_activity("t_add", {"a": n, "b": 1})
    if n < 2:
        ctx.continue_as_new(n + 1)
    return n


def test_attributes_kept_across_continue_as_new_count_toward_the_limit(client):
    client.start("t_tag_generations", 0, instance_id="gen-1")
    drive()
    state = client.get_status("gen-1")
    assert state.status == "failed"
    assert "this would make 30" in state.failure["message"]
    assert len(state.search_attributes) == 15


def test_a_bad_attribute_fails_the_instance_with_the_reason(client):
    client.start("t_tagged", {"bad name": 1}, instance_id="tag-bad")
    drive()
    state = client.get_status("tag-bad")
    assert state.status == "failed"
    assert "search attribute name 'bad name' is not valid" in state.failure["message"]


def _tag(instance_id: str, **attributes) -> None:
    Instance.objects.filter(instance_id=instance_id).update(search_attributes=attributes)


@pytest.fixture
def tagged(client):
    for n in range(5):
        client.start("t_chain", n, instance_id=f"i-{n}")
    _tag("i-0", customer="acme", amount=5, vip=True)
    _tag("i-1", customer="acme", amount="5")
    _tag("i-2", customer="beta", amount=7)
    return client


def _crafted(value, pk) -> str:
    """A cursor as a caller could make one by hand: "a" + base64 of [value, pk]."""
    raw = json.dumps([value, pk]).encode()
    return "a" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_an_updated_cursor_with_an_offset_reads_as_utc(tagged):
    now = timezone.now()
    for n in range(5):  # i-0 changed last
        Instance.objects.filter(instance_id=f"i-{n}").update(updated_at=now - timedelta(hours=n))
    boundary = Instance.objects.get(instance_id="i-2")
    local = boundary.updated_at.astimezone(timezone.get_fixed_timezone(-300)).isoformat()
    assert found(tagged, sort="-updated", cursor=_crafted(local, boundary.pk)) == ["i-3", "i-4"]


def found(client, **filters) -> list[str]:
    return [s.instance_id for s in client.query(**filters).items]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"customer": "acme"}, ["i-1", "i-0"]),
        ({"customer": "acme", "amount": "5"}, ["i-1", "i-0"]),  # the number and the text
        ({"amount": "7"}, ["i-2"]),
        ({"vip": "true"}, ["i-0"]),
        ({"customer": "ACME"}, []),  # exact values, not fragments
        ({"nobody": "x"}, []),
    ],
)
def test_attribute_filters(tagged, attributes, expected):
    assert found(tagged, attributes=attributes) == expected
    assert tagged.query(attributes=attributes, count=True).total == len(expected)


@pytest.mark.parametrize("name", ["contains", "isnull", "exact", "regex", "gt", "in", "has_key"])
def test_attribute_names_that_are_django_lookups_are_plain_keys(tagged, name):
    _tag("i-3", **{name: "(("})
    _tag("i-4", **{name: "b", "other": "(("})
    assert found(tagged, attributes={name: "(("}) == ["i-3"]
    assert found(tagged, attributes={name: "b"}) == ["i-4"]
    assert found(tagged, attributes={name: "a"}) == []  # not "greater than a"


def test_a_flag_is_not_a_number_and_a_number_is_not_a_flag(tagged):
    _tag("i-3", flag=1, count=True)
    _tag("i-4", flag=True, count=1)
    assert found(tagged, attributes={"flag": "1"}) == ["i-3"]
    assert found(tagged, attributes={"flag": "true"}) == ["i-4"]
    assert found(tagged, attributes={"count": "1"}) == ["i-4"]
    assert found(tagged, attributes={"vip": "1"}) == []  # i-0 has vip=True
    _tag("i-3", ratio=5.0)
    assert found(tagged, attributes={"ratio": "5"}) == ["i-3"]  # 5.0 is 5


@pytest.mark.parametrize(
    ("filters", "words"),
    [
        ({"attributes": {"bad name": "x"}}, "attr.bad name"),
        ({"attributes": {"a": "x" * 201}}, "attr.a"),
        ({"attributes": {f"a{i}": "1" for i in range(6)}}, "At most 5"),
        ({"sort": "colour"}, "Unknown sort 'colour'"),
        ({"cursor": "zzz"}, "is not a cursor"),
        ({"cursor": "a!!"}, "is not a cursor"),
        ({"cursor": "bWFsZm9ybWVk", "sort": "name"}, "is not a cursor"),
        ({"cursor": "12", "sort": "name"}, "is not a cursor"),
        ({"cursor": _crafted("9999-12-31T23:59:59-05:00", 1), "sort": "-updated"}, "cursor"),
        ({"cursor": _crafted("0001-01-01T00:00:00+05:00", 1), "sort": "-updated"}, "cursor"),
        ({"cursor": _crafted("2026-01-01T00:00:00", 1), "sort": "-updated"}, "cursor"),
        ({"cursor": _crafted("2026-01-01T00:00:00+00:00", 2**63), "sort": "-updated"}, "cursor"),
        ({"cursor": _crafted("2026-01-01T00:00:00+00:00", 0), "sort": "-updated"}, "cursor"),
        ({"cursor": _crafted("x" * 300, 1), "sort": "name"}, "cursor"),
    ],
)
def test_bad_filters_name_what_is_wrong(tagged, filters, words):
    with pytest.raises(InvalidInput, match=words):
        tagged.query(**filters)


@pytest.mark.parametrize("sort", listing.SORT_CHOICES)
def test_every_sort_pages_both_ways_without_gaps_or_repeats(client, sort):
    for n in range(7):
        client.start("t_chain", n, instance_id=f"s-{n}", business_key=str(n))
    # Ties on name and status, several updated_at values: the pk breaks them.
    Instance.objects.filter(instance_id__in=["s-1", "s-4"]).update(status="running")
    base = timezone.now()
    for n, pk in enumerate(Instance.objects.order_by("pk").values_list("pk", flat=True)):
        Instance.objects.filter(pk=pk).update(updated_at=base - timedelta(minutes=n % 3))
    everything = found(client, sort=sort, limit=100)
    assert len(everything) == 7
    pages, cursor = [], None
    while True:
        page = client.query(sort=sort, limit=3, cursor=cursor)
        pages.append([s.instance_id for s in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [i for p in pages for i in p] == everything
    assert [len(p) for p in pages] == [3, 3, 1]
    # and back: previous_cursor of the last page, then of the middle one
    last = client.query(sort=sort, limit=3, cursor=page.previous_cursor)
    assert [s.instance_id for s in last.items] == pages[1]
    first = client.query(sort=sort, limit=3, cursor=last.previous_cursor)
    assert [s.instance_id for s in first.items] == pages[0]
    assert first.previous_cursor is None


def test_default_order_and_its_old_numeric_cursor(tagged):
    assert found(tagged) == ["i-4", "i-3", "i-2", "i-1", "i-0"]
    pk = Instance.objects.get(instance_id="i-3").pk
    assert found(tagged, cursor=str(pk)) == ["i-2", "i-1", "i-0"]


def test_time_ranges_of_creation_and_last_change(tagged):
    now = timezone.now()
    Instance.objects.filter(instance_id="i-0").update(
        created_at=now - timedelta(days=3), updated_at=now - timedelta(days=2)
    )
    Instance.objects.filter(instance_id="i-1").update(updated_at=now - timedelta(days=2))
    day = now - timedelta(days=1)
    assert found(tagged, created_before=day) == ["i-0"]
    assert found(tagged, created_after=day) == ["i-4", "i-3", "i-2", "i-1"]
    assert found(tagged, updated_before=day) == ["i-1", "i-0"]
    assert found(tagged, updated_after=day, created_after=day) == ["i-4", "i-3", "i-2"]


def test_the_count_stops_at_the_cap(tagged, monkeypatch):
    assert tagged.query(count=True).total == 5
    assert tagged.query(count=True).total_exact
    assert tagged.query().total is None
    assert listing.capped_count(Instance.objects.all(), cap=3) == (3, False)
    assert listing.capped_count(Instance.objects.all(), cap=5) == (5, True)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_attribute_filter_is_a_gin_index_scan_on_postgresql(tagged):
    rows = Instance.objects.with_attributes(listing.attribute_filters({"customer": "acme"}))
    assert {i.instance_id for i in rows} == {"i-0", "i-1"}
    sql, params = rows.order_by("-pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # A tiny table would be scanned; what matters is that the index can serve it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "inst_attrs_gin" in plan, plan


def _durable(*args: str) -> str:
    out = StringIO()
    call_command("durable", *args, stdout=out)
    return out.getvalue()


def test_the_cli_lists_by_attribute_and_sort(tagged):
    listed = json.loads(_durable("list", "--attr", "customer=acme", "--json"))
    assert [item["instance_id"] for item in listed] == ["i-1", "i-0"]
    assert listed[1]["search_attributes"]["vip"] is True
    text = _durable("list", "--attr", "amount=7", "--sort", "name")
    assert "i-2" in text and "customer=beta" in text
    paged = _durable("list", "--sort", "created", "--limit", "2")
    assert "more: --cursor " in paged
    cursor = paged.rsplit("--cursor ", 1)[1].strip()
    rest = _durable("list", "--sort", "created", "--limit", "2", "--cursor", cursor)
    assert "i-2" in rest and "i-0" not in rest
    _tag("i-3", contains="x")
    assert "i-3" in _durable("list", "--attr", "contains=x")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--attr", "customer"], "use name=value"),
        (["--attr", "bad name=x"], "attr.bad name"),
        (["--sort", "colour"], "Unknown sort"),
    ],
)
def test_cli_mistakes_are_one_clear_command_error(tagged, args, words):
    with pytest.raises(CommandError, match=words):
        _durable("list", *args)


def test_a_page_is_one_read_with_its_parents_and_no_row_by_row_payloads(
    client, django_assert_num_queries
):
    client.start("t_child", 1, instance_id="parent-1")
    drive()
    for n in range(4):
        client.start("t_chain", n, instance_id=f"q-{n}")
    with django_assert_num_queries(1):
        page = client.query(payloads=["failure", "custom_status", "attention_reason"])
        items = {s.instance_id: s for s in page.items}
    child = next(s for s in page.items if s.parent_id == "parent-1")
    assert child.summary and child.input is None
    assert items["q-3"].input is None and items["q-3"].attention_reason == ""
    assert client.get_status("q-3").input == 3  # the instance's own page reads it
    with pytest.raises(InvalidInput, match="no payload 'input'"):
        client.query(payloads=["input"])


def _plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        # A tiny table would be scanned and sorted; what matters is that an index can
        # serve the order and where its read starts.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(line for (line,) in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN of PostgreSQL")
@pytest.mark.parametrize("direction", ["a", "b"])
def test_a_page_starts_its_index_read_at_the_cursor_on_postgresql(client, direction):
    for n in range(5):
        client.start("t_chain", n, instance_id=f"p-{n}")
    boundary = Instance.objects.order_by("pk")[2]
    hub = Instance.objects.filter(task_hub=client.hub)
    # newest first: the primary key read from the boundary, both ways
    cursor = listing._encode(direction, boundary.pk, boundary.pk)
    qs, _ = listing.keyset_query(hub, listing.parse_sort(None), cursor)
    plan = _plan(qs[:26])
    assert "Index Cond: (id " in plan, plan
    # last change of active instances: the partial index, from the boundary's time
    active = hub.filter(status__in=ACTIVE_STATUSES)
    cursor = listing._encode(direction, boundary.updated_at, boundary.pk)
    plan = _plan(listing.keyset_query(active, listing.parse_sort("-updated"), cursor)[0][:26])
    assert "inst_active_updated_idx" in plan, plan
    start = plan.split("Index Cond:", 1)[1].splitlines()[0]
    assert "updated_at <=" in start or "updated_at >=" in start, plan
