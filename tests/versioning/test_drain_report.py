"""The drain report without a count of every active instance: each version found by a skip
scan (PostgreSQL), its active instances counted up to DRAIN_COUNT_CAP (workflows/versioning.py)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from workflows import versioning
from workflows.engine import Registry
from workflows.models import Instance
from workflows.versioning import MoreThan, version_drain_report

pytestmark = pytest.mark.django_db

HUB = "drains"
# (name, version, status): names that sort as prefixes of each other, versions 2 and 10
# (numbers, not text), finished instances and another hub that must not count.
ROWS = (
    [("order", 1, "running")] * 5
    + [("order", 1, "completed")] * 4
    + [("order", 2, "suspended")] * 3
    + [("order", 10, "pending"), ("order", 10, "running")]
    + [("order_v", 1, "pending")]
    + [("order_v", 3, "failed"), ("order_v", 3, "terminated")]
    + [("a", 7, "running")] * 4
)


def make(rows, hub: str = HUB) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = Instance.objects.bulk_create(
        Instance(task_hub=hub, instance_id=f"{hub}-{n}", name=name, version=v, status=status)
        for n, (name, v, status) in enumerate(rows)
    )
    for n, instance in enumerate(made):  # auto_now_add ignores a given created_at
        Instance.objects.filter(pk=instance.pk).update(created_at=start + timedelta(hours=n))


def expected(hub: str = HUB) -> dict[tuple[str, int], tuple[int, datetime]]:
    """Counted one by one, in Python."""
    active = list(
        Instance.objects.filter(task_hub=hub, status__in=["pending", "running", "suspended"])
    )
    counts = Counter((i.name, i.version) for i in active)
    return {
        key: (n, min(i.created_at for i in active if (i.name, i.version) == key))
        for key, n in counts.items()
    }


def shown(report) -> dict[tuple[str, int], tuple[int, datetime | None]]:
    return {
        (v.name, v.version): (v.active, v.oldest_created_at) for vs in report.values() for v in vs
    }


def test_every_version_of_an_active_instance_is_counted_exactly_under_the_cap():
    make(ROWS)
    make([("order", 1, "running"), ("other", 1, "running")], hub="elsewhere")

    report = version_drain_report(HUB, registry=Registry())

    assert shown(report) == expected() != {}
    assert list(report) == ["a", "order", "order_v"]
    assert [v.version for v in report["order"]] == [1, 2, 10]
    assert report["order"][0].active == 5 and report["order"][0].active_exact
    assert ("order_v", 3) not in shown(report)  # only finished ones: nothing to drain


def test_above_the_cap_the_count_stops_and_says_so(monkeypatch):
    make(ROWS)
    monkeypatch.setattr(versioning, "DRAIN_COUNT_CAP", 4)

    report = shown(version_drain_report(HUB, registry=Registry()))

    many, at_cap, few = report[("order", 1)][0], report[("a", 7)][0], report[("order", 2)][0]
    assert isinstance(many, MoreThan) and many == 4 and str(many) == "4+"
    assert not isinstance(at_cap, MoreThan) and at_cap == 4  # exactly the cap: exact
    assert not isinstance(few, MoreThan) and few == 3
    assert report[("order", 1)][1] == expected()[("order", 1)][1]  # oldest: still exact
    assert str(MoreThan(10_000)) == "10,000+" and MoreThan(10_000) > 0


def noop(ctx, _input):
    yield ctx.create_timer(0)


def test_registered_versions_without_active_instances_are_listed_drained():
    make([("order", 2, "running")])
    registry = Registry()
    for version in (1, 2, 3):
        registry.add_orchestrator(noop, "order", version)

    drains = version_drain_report(HUB, registry=registry)["order"]

    assert [(v.version, v.active, v.registered, v.latest) for v in drains] == [
        (1, 0, True, False),
        (2, 1, True, False),
        (3, 0, True, True),
    ]
    assert drains[0].removable and drains[0].active_exact and not drains[1].drained


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the skip scan is PostgreSQL's")
def test_the_report_reads_the_partial_index_of_active_versions_only():
    make(ROWS)
    with connection.cursor() as cursor:
        # A tiny table: a scan would be cheaper. What is checked is that every part of the
        # query can be served by inst_active_version_idx, never by reading the table. Other
        # indexes leading with task_hub cost about the same on a tiny table, and the planner
        # took one of them in CI runs (a sibling partial index; inst_bkey_idx, with stale
        # statistics): every index but the primary key is dropped here, in the test's
        # transaction, and the table analyzed.
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'workflows_instance' "
            "AND indexname NOT IN ('inst_active_version_idx', 'workflows_instance_pkey')"
        )
        names = [name for (name,) in cursor.fetchall()]
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks: ALTER may run
        for name in names:
            if name == "uniq_hub_instance":
                cursor.execute("ALTER TABLE workflows_instance DROP CONSTRAINT uniq_hub_instance")
            else:
                cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("ANALYZE workflows_instance")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            f"EXPLAIN {versioning._DRAIN_SQL}",
            {"hub": HUB, "limit": versioning.DRAIN_COUNT_CAP + 1},
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())

    assert "Seq Scan on workflows_instance" not in plan, plan
    used = {line.split(" using ")[1].split()[0] for line in plan.splitlines() if " using " in line}
    assert used == {"inst_active_version_idx"}, plan
