"""Payload columns become PayloadField or PayloadTextField (workflows/payloads/fields.py):
the same columns, read and written through the payload codec. No change in the database."""

from django.db import migrations

import workflows.payloads.fields


def payload(**kwargs):
    return workflows.payloads.fields.PayloadField(**kwargs)


class Migration(migrations.Migration):
    dependencies = [
        ("schedules", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="schedule",
            name="input",
            field=payload(blank=True, null=True),
        ),
    ]
