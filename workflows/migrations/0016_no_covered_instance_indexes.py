"""Drop the instance_id index Django gives each foreign key, where a unique constraint or
an index of the table already leads with instance_id (docs/architecture.md "Data model"):
an activity task's row is written twice per step, and each write paid for it."""

from django.db import migrations

from workflows.migrations._covered_index import drop_covered_fk_index

COVERED = {
    # model: (index Django named for the foreign key, the field's related name)
    "activitytask": ("workflows_activitytask_instance_id_6fd0b95c", "tasks"),
    "externalevent": ("workflows_externalevent_instance_id_9487d2f9", "events"),
    "inboxmessage": ("workflows_inboxmessage_instance_id_0d6ba718", "inbox"),
    "timer": ("workflows_timer_instance_id_01fff975", "timers"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0015_outcome_buckets"),
    ]

    operations = [
        drop_covered_fk_index(
            f"workflows_{model}", model, "instance", "workflows.instance", related, index
        )
        for model, (index, related) in COVERED.items()
    ]
