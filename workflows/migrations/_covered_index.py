"""An operation for migrations (the leading "_" keeps Django from loading this module as
one): drop the index Django gave a foreign key that another index of its table already
leads with (docs/architecture.md, "Data model"). Migrations use it as written here, so
change it only in ways that leave what they did the same."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


def drop_covered_fk_index(
    table: str, model: str, field: str, to: str, related_name: str, index: str
) -> migrations.SeparateDatabaseAndState:
    """The field becomes ``db_index=False``; the database only loses ``index`` (DROP INDEX
    IF EXISTS: no table rebuild, and not the foreign key that AlterField alone would drop
    and validate again over a large table).

    Example::

        drop_covered_fk_index("workflows_timer", "timer", "instance", "workflows.instance",
                              "timers", "workflows_timer_instance_id_01fff975")
    """
    return migrations.SeparateDatabaseAndState(
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX IF EXISTS "{index}"',
                reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{field}_id")',
            )
        ],
        state_operations=[
            migrations.AlterField(
                model_name=model,
                name=field,
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name=related_name,
                    to=to,
                ),
            )
        ],
    )
