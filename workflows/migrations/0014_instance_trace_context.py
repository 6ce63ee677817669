"""Instance.trace_context: the W3C trace context of the execution's start, read by
workflows/tracing.py without loading (decrypting, fetching) the ExecutionStarted payload.
Null for instances started before: tracing falls back to that payload once per process."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0013_bulk_item_reason_payload_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="instance",
            name="trace_context",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
