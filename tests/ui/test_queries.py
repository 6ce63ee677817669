"""Operator pages at scale: search by fragment, counts by status that stay cheap, the bulk
count bounded (workflows/ui/queries.py, models.SearchText, figures.status_counts)."""

from __future__ import annotations

import pytest
from django.db import connection

from workflows import figures
from workflows.bulk import service
from workflows.models import Instance
from workflows.ui import queries
from workflows.ui.queries import About

pytestmark = pytest.mark.django_db


def test_an_estimated_count_reads_as_about_three_significant_figures():
    assert str(About(9_612_345)) == "≈ 9,610,000"
    assert str(About(10_001)) == "≈ 10,000"
    assert About(9_612_345) + 5 == 9_612_350  # still a number for sums


def test_search_finds_a_fragment_of_the_id_name_or_key_in_any_case(running, durable):
    running("order-7781", key="ACME-0042")
    running("refund-1", name="t_chain")
    running("other-2", key="beta-9")

    def found(fragment: str) -> set[str]:
        return {i.instance_id for i in durable.query(search=fragment).items}

    assert found("der-77") == {"order-7781"}
    assert found("acme-00") == {"order-7781"}  # business key, other case
    assert found("T_CH") == {"order-7781", "refund-1", "other-2"}  # the name
    assert found("7781ACME") == set()  # never across two fields
    assert found("der%7781") == set()  # LIKE wildcards are plain characters


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_search_is_a_trigram_index_scan_on_postgresql(running):
    running("order-7781", key="ACME-0042")
    rows = Instance.objects.search("ACME-00").order_by("-pk")
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        # A tiny table: a scan (or the primary key read backwards for the order, as the
        # planner chose once with fresh statistics) is cheaper. What is checked is that the
        # search expression matches the trigram index, so the index can serve it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "inst_search_trgm" in plan, plan


def test_counts_by_status_are_exact_up_to_the_bound_and_estimates_above(
    running, durable, monkeypatch
):
    for n in range(4):
        running(f"done-{n}", status="completed")
    running("busy-1")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE workflows_instance")
    monkeypatch.setattr(figures, "EXACT_UP_TO", 2)

    counts, estimated = figures.status_counts(durable.hub)
    shown = queries.counts_by_status(durable.hub)

    assert estimated == {"completed"}
    assert counts["running"] == 1 and counts["pending"] == 0
    assert counts["completed"] >= 3  # over the bound: never shown below it
    assert isinstance(shown["completed"], About) and not isinstance(shown["running"], About)


def test_the_console_count_for_select_all_stops_past_the_bulk_limit(running, durable, monkeypatch):
    for n in range(5):
        running(f"f-{n}", status="failed")
    monkeypatch.setattr(service, "MAX_TARGETS", 2)

    assert service.count(durable.hub, "instances", {"status": ["failed"]}) == 3
    assert service.count(durable.hub, "instances", {"search": "f-4"}) == 1
