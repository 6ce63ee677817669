"""Schedule.last_error may quote failure text: a PayloadTextField (encrypted with the
codec on). No change in the database."""

from django.db import migrations

import workflows.payloads.fields


class Migration(migrations.Migration):
    dependencies = [
        ("schedules", "0002_payload_fields"),
    ]

    operations = [
        migrations.AlterField(
            model_name="schedule",
            name="last_error",
            field=workflows.payloads.fields.PayloadTextField(blank=True, default=""),
        ),
    ]
