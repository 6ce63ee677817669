"""BulkItem.reason may quote failure text: a PayloadTextField (encrypted with the codec
on). No change in the database."""

from django.db import migrations

import workflows.payloads.fields


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0012_payload_fields"),
    ]

    operations = [
        migrations.AlterField(
            model_name="bulkitem",
            name="reason",
            field=workflows.payloads.fields.PayloadTextField(blank=True, default=""),
        ),
    ]
