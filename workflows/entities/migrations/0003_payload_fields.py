"""Payload columns become PayloadField (workflows/payloads/fields.py): the same JSON column,
read and written through the payload codec. No change in the database."""

from django.db import migrations

import workflows.payloads.fields


def payload(**kwargs):
    return workflows.payloads.fields.PayloadField(**kwargs)


class Migration(migrations.Migration):
    dependencies = [
        ("entities", "0002_woken_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="entity",
            name="state",
            field=payload(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="entityoperation",
            name="input",
            field=payload(blank=True, null=True),
        ),
    ]
