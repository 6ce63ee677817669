"""Carry the plaintext DRF authtoken keys (rest_framework.authtoken, no longer installed)
over as hashed tokens that expire API_TOKEN_DAYS from now, then delete the plaintext
rows, so integrations keep working and no key stays readable in the database."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

LEGACY_TABLE = "authtoken_token"


def import_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    table = connection.ops.quote_name(LEGACY_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {table}")  # noqa: S608 - a constant name
        rows = cursor.fetchall()
    ApiToken = apps.get_model("security", "ApiToken")
    expires = timezone.now() + timedelta(days=getattr(settings, "API_TOKEN_DAYS", 90))
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=user_id,
            name="imported DRF token",
            prefix=key[:8],
            digest=hashlib.sha256(key.encode()).hexdigest(),
            expires_at=expires,
        )
        for key, user_id in rows
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a constant name


class Migration(migrations.Migration):
    dependencies = [("security", "0001_initial")]

    operations = [migrations.RunPython(import_drf_tokens, migrations.RunPython.noop)]
