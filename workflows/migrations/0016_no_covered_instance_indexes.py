"""Drop the instance_id index Django gives each foreign key, where a unique constraint or
an index of the table already leads with instance_id (docs/architecture.md "Data model"):
an activity task's row is written twice per step, and each write paid for it.

Only the indexes are dropped (DROP INDEX IF EXISTS: no table rebuild, no foreign key
dropped and validated again over a large table, as AlterField alone would do)."""

import django.db.models.deletion
from django.db import migrations, models

COVERED = {
    # table: (index Django named for the foreign key, the field's related name)
    "activitytask": ("workflows_activitytask_instance_id_6fd0b95c", "tasks"),
    "externalevent": ("workflows_externalevent_instance_id_9487d2f9", "events"),
    "inboxmessage": ("workflows_inboxmessage_instance_id_0d6ba718", "inbox"),
    "timer": ("workflows_timer_instance_id_01fff975", "timers"),
}


def _operations():
    for model, (index, related_name) in COVERED.items():
        yield migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "workflows_{model}" ("instance_id")',
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name="instance",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name=related_name,
                        to="workflows.instance",
                    ),
                )
            ],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0015_outcome_buckets"),
    ]

    operations = list(_operations())
