"""Drop the entity_id index Django gives each foreign key where a constraint or index of
the table already leads with entity_id (as workflows 0016 does for instance_id)."""

from django.db import migrations

from workflows.migrations._covered_index import drop_covered_fk_index

COVERED = {
    # model: (index Django named for the foreign key, the field's related name)
    "entityoperation": ("entities_entityoperation_entity_id_1e1974f5", "queue"),
    "entityoperationlog": ("entities_entityoperationlog_entity_id_92b53d0e", "log"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("entities", "0003_payload_fields"),
    ]

    operations = [
        drop_covered_fk_index(
            f"entities_{model}", model, "entity", "entities.entity", related, index
        )
        for model, (index, related) in COVERED.items()
    ]
