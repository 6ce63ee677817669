"""Operator pages at scale (issue 17): a trigram index for searching instances by a
fragment of their id, name or business key (PostgreSQL only: pg_trgm; SQLite does nothing
here), partial indexes over active instances, and the attention index made partial.

The trigram index is built CONCURRENTLY (no lock on writers while a large table is read),
so this migration is not atomic.
"""

from django.db import migrations, models

# UPPER of workflows.models.SearchText, as `icontains` on it compiles: the planner matches
# the query's expression to this one.
SEARCH_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS inst_search_trgm ON workflows_instance "
    "USING gin ((UPPER((instance_id || chr(1) || name || chr(1) || business_key)::text)) "
    "gin_trgm_ops)"
)


def add_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(SEARCH_INDEX)


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS inst_search_trgm")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflows", "0008_drop_redundant_history_index"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="instance",
            name="inst_attention_idx",
        ),
        migrations.RemoveIndex(
            model_name="instance",
            name="inst_completed_idx",
        ),
        migrations.AddIndex(
            model_name="instance",
            index=models.Index(
                condition=models.Q(("needs_attention", True)),
                fields=["task_hub", "id"],
                name="inst_attention_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="instance",
            index=models.Index(
                fields=["task_hub", "completed_at", "status"], name="inst_completed_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="instance",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "running", "suspended"])),
                fields=["task_hub", "updated_at", "id"],
                name="inst_active_updated_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="instance",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "running", "suspended"])),
                fields=["task_hub", "history_length", "id"],
                name="inst_active_history_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="instance",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "running", "suspended"])),
                fields=["task_hub", "name", "version", "created_at", "id"],
                name="inst_active_version_idx",
            ),
        ),
        migrations.RunPython(add_search_index, drop_search_index),
    ]
