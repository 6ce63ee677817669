"""Seeding the database of `make bench-scale`: N instances written straight into
PostgreSQL (INSERT ... SELECT generate_series), small realistic rows.

Statuses spread as a long-running deployment would have them (per 10,000: 9,600 completed,
200 failed, 100 terminated, 90 running, 5 pending, 5 suspended; 1 in 2,000 failed or
running ones needs attention), eight workflow names, business keys ``ORD-<n>`` and
``CUST-<n>``, creation dates over the last 365 days (oldest first). Open activity tasks,
unfired timers and pending approvals for a share of the active ones, and a 40-event
history for the instances whose pages are timed. Finished instances get no task or history
rows: the pages reach those tables only through the instance's own indexes.

The table's secondary indexes are dropped while rows go in and built again afterwards
(much faster than keeping them up to date row by row), then ANALYZE.
"""

from __future__ import annotations

import time

import psycopg

NAMES = [
    "order_fulfilment",
    "payment_capture",
    "invoice_run",
    "shipment_tracking",
    "refund_flow",
    "customer_onboarding",
    "subscription_renewal",
    "fraud_review",
]
CHUNK = 1_000_000
TIMED = 10  # instances whose page is timed get a history (the newest running ones)

# r = a hash of the row number in [0, 10000): its status and the rest follow from it.
ROWS = """
INSERT INTO workflows_instance (
    task_hub, instance_id, name, version, status, execution_id, input, output, failure,
    business_key, needs_attention, attention_reason, history_length, generation,
    history_epoch, created_at, updated_at, completed_at, search_attributes)
SELECT 'default', id, name, 1 + (g %% 3), status, md5(id), jsonb_build_object('order', g),
    CASE WHEN status = 'completed' THEN '{"ok": true}'::jsonb END,
    CASE WHEN status = 'failed' THEN '{"type": "TimeoutError", "message": "carrier"}'::jsonb END,
    CASE WHEN g %% 2 = 0 THEN 'ORD-' ELSE 'CUST-' END || (1000000 + g)::text,
    attention, CASE WHEN attention THEN 'compensation: refund failed' ELSE '' END,
    CASE WHEN status IN ('running', 'suspended') THEN 2 + g %% 40 ELSE 12 END, 1, 0,
    created, created + make_interval(secs => r %% 90),
    CASE WHEN status IN ('completed', 'failed', 'terminated')
         THEN created + make_interval(secs => 1 + r %% 600) END,
    CASE WHEN g %% 10 = 0  -- one in ten upserted search attributes (issue 19)
         THEN jsonb_build_object('region', (ARRAY['eu', 'us', 'apac'])[1 + g %% 3],
                                 'customer', 'C' || (g %% 50000)::text)
         ELSE '{}'::jsonb END
FROM (
    SELECT g, r, md5('seed' || g::text) AS id, (%(names)s::text[])[1 + g %% 8] AS name,
        CASE WHEN r < 9600 THEN 'completed' WHEN r < 9800 THEN 'failed'
             WHEN r < 9900 THEN 'terminated' WHEN r < 9990 THEN 'running'
             WHEN r < 9995 THEN 'pending' ELSE 'suspended' END AS status,
        (r >= 9600 AND r < 9800 OR r >= 9900 AND r < 9990) AND g %% 2000 < 20 AS attention,
        now() - make_interval(secs => (%(rows)s - g)::float8 / %(rows)s * 365 * 86400)
            AS created
    FROM (SELECT g, (g * 2654435761::bigint) %% 10000 AS r
          FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g) AS numbered
) AS spec
"""

OPEN_WORK = """
INSERT INTO workflows_activitytask (
    task_hub, execution_id, task_id, call_id, name, input, attempt, status, idempotency_key,
    runs, worker, created_at, enqueued_at, instance_id, resends)
SELECT 'default', execution_id, history_length, history_length, 'charge_card',
    '{"amount": 10}', 1, CASE WHEN id % 2 = 0 THEN 'scheduled' ELSE 'running' END,
    instance_id || ':' || history_length, 0, '', updated_at, updated_at, id, 0
FROM workflows_instance WHERE status = 'running' AND id % 3 = 0;
INSERT INTO workflows_timer (task_hub, execution_id, task_id, fire_at, purpose, fired, instance_id)
SELECT 'default', execution_id, history_length, updated_at + interval '400 days', 'timer', false, id
FROM workflows_instance WHERE status = 'running' AND id % 3 = 1;
"""


def secondary_indexes(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the instance table's indexes that no constraint owns."""
    return conn.execute(
        """SELECT indexname, indexdef FROM pg_indexes
           WHERE tablename = 'workflows_instance' AND indexname NOT IN (
               SELECT conname FROM pg_constraint
               WHERE conrelid = 'workflows_instance'::regclass)"""
    ).fetchall()


def seed(url: str, rows: int, say=print) -> float:
    """Write ``rows`` instances (and their open work) into the migrated database at ``url``;
    returns the seconds it took."""
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # seeding only: nothing is measured here
        conn.execute("SET maintenance_work_mem = '1GB'")
        indexes = secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for first in range(1, rows + 1, CHUNK):
            last = min(rows, first + CHUNK - 1)
            conn.execute(ROWS, {"names": NAMES, "rows": rows, "first": first, "last": last})
            say(f"   seeded {last:,} instances ({time.monotonic() - started:.0f} s)")
        for name, statement in indexes:
            conn.execute(statement)
            say(f"   index {name} built ({time.monotonic() - started:.0f} s)")
        conn.execute(OPEN_WORK)
        seed_histories(conn)
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def seed_histories(conn: psycopg.Connection) -> None:
    """40 events for each of the newest running instances (their pages are timed)."""
    conn.execute(
        """INSERT INTO workflows_historyevent (instance_id, execution_id, seq, kind, payload,
               timestamp)
           SELECT i.id, i.execution_id, s, CASE WHEN s = 1 THEN 'ExecutionStarted'
                  WHEN s %% 2 = 0 THEN 'ActivityScheduled' ELSE 'ActivityCompleted' END,
                  jsonb_build_object('task_id', s / 2, 'name', 'charge_card'),
                  i.created_at + make_interval(secs => s)
           FROM (SELECT id, execution_id, created_at FROM workflows_instance
                 WHERE status = 'running' ORDER BY id DESC LIMIT %s) AS i,
                generate_series(1, 40) AS s""",
        [TIMED],
    )
    conn.execute(
        """UPDATE workflows_instance SET history_length = 40 WHERE id IN (
               SELECT id FROM workflows_instance WHERE status = 'running'
               ORDER BY id DESC LIMIT %s)""",
        [TIMED],
    )
