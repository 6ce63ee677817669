"""The test runs' ``flush`` (tests/support/flushing): after a transactional test every
table is empty again, but content types and permissions stay as migrate made them."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection

from workflows.client import DurableClient


def rows_left() -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True)
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return {table: count for table, count in counts.items() if count}


@pytest.mark.django_db(transaction=True)
def test_a_teardown_flush_empties_every_table_but_content_types_and_permissions():
    from tests.support import workflows  # noqa: F401 - registers t_wait_event

    kept = (
        sorted(ContentType.objects.values_list("pk", flat=True)),
        sorted(Permission.objects.values_list("pk", flat=True)),
    )
    assert kept[0] and kept[1], "migrate made content types and permissions"
    DurableClient().start("t_wait_event", None, instance_id="flush-1")
    group = Group.objects.create(name="flushers")
    group.permissions.add(Permission.objects.first())
    assert {"workflows_instance", "auth_group", "auth_group_permissions"} <= set(rows_left())

    # What django.test.TransactionTestCase._fixture_teardown calls.
    call_command(
        "flush",
        verbosity=0,
        interactive=False,
        reset_sequences=False,
        allow_cascade=False,
        inhibit_post_migrate=False,
    )

    assert set(rows_left()) == {"django_content_type", "auth_permission"}
    assert (
        sorted(ContentType.objects.values_list("pk", flat=True)),
        sorted(Permission.objects.values_list("pk", flat=True)),
    ) == kept
