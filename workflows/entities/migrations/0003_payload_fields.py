"""Payload columns become PayloadField or PayloadTextField (workflows/payloads/fields.py):
the same columns, read and written through the payload codec. No change in the database."""

from django.db import migrations

import workflows.payloads.fields


def payload(**kwargs):
    return workflows.payloads.fields.PayloadField(**kwargs)


def payload_text(**kwargs):
    return workflows.payloads.fields.PayloadTextField(**kwargs)


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
        migrations.AlterField(
            model_name="entityoperationlog",
            name="error",
            field=payload_text(blank=True, default=""),
        ),
    ]
