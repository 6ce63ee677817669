"""``flush``, as a transactional test's teardown calls it: DELETE, keeping content types and
permissions (tests/support/flushing/__init__.py says why). Any other call is Django's own."""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import connections, transaction

# Made by migrate (its post_migrate signal), never changed by a test: kept, with their ids.
KEPT = frozenset({"django_content_type", "auth_permission"})


def is_test_teardown(options: dict[str, Any]) -> bool:
    """The options TransactionTestCase._fixture_teardown passes for a whole database."""
    return (
        not options.get("interactive", True)
        and options.get("reset_sequences") is False
        and not options.get("allow_cascade")
        and not options.get("inhibit_post_migrate")
    )


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        if not is_test_teardown(options):
            super().handle(**options)
            return
        connection = connections[options["database"]]
        tables = connection.introspection.django_table_names(
            only_existing=True, include_views=False
        )
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED (PostgreSQL and SQLite):
        # checked at commit, when every referencing row is gone too, whatever the order.
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for table in sorted(set(tables) - KEPT):
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
