"""Drop the entity_id index Django gives each foreign key where a constraint or index of
the table already leads with entity_id (as workflows 0016 does for instance_id): only the
index, no table rebuild."""

import django.db.models.deletion
from django.db import migrations, models

COVERED = {
    # table: (index Django named for the foreign key, the field's related name)
    "entityoperation": ("entities_entityoperation_entity_id_1e1974f5", "queue"),
    "entityoperationlog": ("entities_entityoperationlog_entity_id_92b53d0e", "log"),
}


def _operations():
    for model, (index, related_name) in COVERED.items():
        yield migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "entities_{model}" ("entity_id")',
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name="entity",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name=related_name,
                        to="entities.entity",
                    ),
                )
            ],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("entities", "0003_payload_fields"),
    ]

    operations = list(_operations())
