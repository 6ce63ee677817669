"""The test run's tripwire for lock-order bugs: PostgreSQL counts the deadlocks it
detected in each database (``pg_stat_database.deadlocks``), and a test database is new
for every run, so any count at the end of a run is a bug, even one that a retry path
absorbed (a round that fails records its results alone: no test would notice). Every
writer of many rows locks them in one order (docs/architecture.md, "Outcomes").
"""

from __future__ import annotations

from django.db import connections


def deadlocks_detected(alias: str = "default") -> int:
    """The deadlocks PostgreSQL has detected in ``alias``'s database so far (0 elsewhere).

    The connections of this process are closed first: a backend reports its counts when
    it ends (an idle one may hold them for seconds).
    """
    conn = connections[alias]
    if conn.vendor != "postgresql":
        return 0
    connections.close_all()
    with conn.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        row = cursor.fetchone()
    conn.close()
    return int(row[0]) if row else 0


def check_no_deadlocks(alias: str = "default") -> None:
    """Raise (failing the run) if PostgreSQL detected a deadlock in the test database."""
    found = deadlocks_detected(alias)
    if found:
        name = connections[alias].settings_dict["NAME"]
        raise AssertionError(
            f"PostgreSQL detected {found} deadlock(s) in test database {name} during this"
            " run: two writers locked the same rows in different orders. The server log has"
            " both statements ('deadlock detected'); every writer of many rows must lock"
            " them in primary key order (docs/architecture.md, 'Outcomes')."
        )
