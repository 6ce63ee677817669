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
        ("workflows", "0011_search_attributes_saved_views"),
    ]

    operations = [
        migrations.AlterField(
            model_name="activitytask",
            name="failure",
            field=payload(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="activitytask",
            name="heartbeat_details",
            field=payload(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="activitytask",
            name="input",
            field=payload(blank=True, null=True, offload=True),
        ),
        migrations.AlterField(
            model_name="activitytask",
            name="result",
            field=payload(blank=True, null=True, offload=True),
        ),
        migrations.AlterField(
            model_name="approvalrequest",
            name="details",
            field=payload(blank=True, null=True, offload=True),
        ),
        migrations.AlterField(
            model_name="approvalrequest",
            name="summary",
            field=payload(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="bulkoperation",
            name="parameters",
            field=payload(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="compensationrecord",
            name="input",
            field=payload(blank=True, null=True, offload=True),
        ),
        migrations.AlterField(
            model_name="compensationrecord",
            name="last_error",
            field=payload(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="externalevent",
            name="data",
            field=payload(blank=True, null=True, offload=True),
        ),
        migrations.AlterField(
            model_name="historyevent",
            name="payload",
            field=payload(default=dict, offload=True),
        ),
        migrations.AlterField(
            model_name="inboxmessage",
            name="payload",
            field=payload(default=dict),
        ),
        migrations.AlterField(
            model_name="instance",
            name="custom_status",
            field=payload(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="instance",
            name="failure",
            field=payload(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="instance",
            name="input",
            field=payload(blank=True, null=True, offload=True),
        ),
        migrations.AlterField(
            model_name="instance",
            name="output",
            field=payload(blank=True, null=True, offload=True),
        ),
        migrations.AlterField(
            model_name="externalevent",
            name="reason",
            field=payload_text(blank=True, default=""),
        ),
        migrations.AlterField(
            model_name="instance",
            name="attention_reason",
            field=payload_text(blank=True, default=""),
        ),
    ]
