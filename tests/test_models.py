"""The tables as the database has them (introspected, SQLite or PostgreSQL)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

# Each write to these tables' rows is on the hot path (docs/architecture.md, "Data model").
HOT = {
    ("workflows", "HistoryEvent"),
    ("workflows", "InboxMessage"),
    ("workflows", "ActivityTask"),
    ("workflows", "Timer"),
    ("workflows", "ExternalEvent"),
    ("entities", "EntityOperation"),
    ("entities", "EntityOperationLog"),
}


def covered_indexes(model) -> list[tuple[str, str]]:  # noqa: ANN001 - a model class
    """(index, covering index) pairs: a one-column index whose column leads another
    index or unique constraint of the same table (an index written for nothing)."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    indexes = {
        name: spec["columns"]
        for name, spec in found.items()
        if (spec["index"] or spec["unique"]) and not spec["primary_key"] and spec["columns"]
    }
    return [
        (name, other)
        for name, columns in indexes.items()
        if len(columns) == 1 and not found[name]["unique"]
        for other, wider in indexes.items()
        if other != name and len(wider) > 1 and wider[0] == columns[0]
    ]


@pytest.mark.parametrize("app_label,model_name", sorted(HOT))
def test_a_hot_table_has_no_index_another_one_already_covers(app_label, model_name):
    model = apps.get_model(app_label, model_name)
    assert covered_indexes(model) == []


def test_the_check_finds_a_covered_index():
    """The audit log keeps Django's index on its foreign key, which audit_instance_idx
    (instance, created_at) covers: the check sees it (so it would see one on a hot table)."""
    audit = apps.get_model("workflows", "AuditEntry")
    assert ("workflows_auditentry_instance_id_0a4d1a49", "audit_instance_idx") in covered_indexes(
        audit
    )
