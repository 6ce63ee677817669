"""Finding instances (issue 19, point 9): the search attributes an orchestrator sets
(``Instance.search_attributes``), with a GIN index on PostgreSQL for containment filters
(``search_attributes @> '{"customer": "acme"}'``; SQLite has none and reads the JSON), and
the console's saved views (a named filter per user).

The GIN index is built CONCURRENTLY (no lock on writers while a large table is read), so
this migration is not atomic. Adding the column with a constant default does not rewrite
the table on PostgreSQL 11+.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ATTRIBUTES_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS inst_attrs_gin ON workflows_instance "
    "USING gin (search_attributes jsonb_path_ops)"
)


def add_attributes_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ATTRIBUTES_INDEX)


def drop_attributes_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS inst_attrs_gin")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflows", "0010_approval_cards"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="instance",
            name="search_attributes",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(add_attributes_index, drop_attributes_index),
        migrations.CreateModel(
            name="SavedView",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=80)),
                ("query", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_views",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
                "constraints": [
                    models.UniqueConstraint(fields=("user", "name"), name="uniq_saved_view_name")
                ],
            },
        ),
    ]
