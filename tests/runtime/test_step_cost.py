"""What one durable step costs in statements: a regression guard, not a timing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.checks import instance
from workflows.engine import default_registry
from workflows.episodes import run_episode as run_episode_claiming
from workflows.models import ActivityTask, AuditEntry, InboxMessage
from workflows.runtime import merge
from workflows.runtime.activities import attempt, claim_task, run_claimed
from workflows.runtime.cache import sticky_cache

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


def round_trips(captured) -> list[list[str]]:
    """Each execute sent (transaction control left out), as the statements it carried: on
    PostgreSQL an episode's own writes go in one (workflows/compiled.StatementBatch)."""
    return [
        [statement.split()[0].upper() for statement in q["sql"].split("; ")]
        for q in captured.captured_queries
        if not q["sql"].upper().startswith(TRANSACTION_CONTROL)
    ]


def batched(*trips: list[str]) -> list[list[str]]:
    """The round trips expected: as written on PostgreSQL, one statement each elsewhere."""
    if connection.vendor == "postgresql":
        return list(trips)
    return [[statement] for trip in trips for statement in trip]


@pytest.mark.parametrize("cached", [True, False])
def test_a_sequential_step_is_five_statements_with_or_without_the_cache(client, cached):
    """Instance lock (with its inbox flag) and result in one round trip, then history,
    instance row and next task in another, on PostgreSQL."""
    iid = client.start("t_chain", 5)
    _ran, task = run_episode_claiming(instance(iid).pk)
    _recorded, task = run_claimed(task)  # warm: the instance is cached now
    if not cached:
        sticky_cache().clear()
    with CaptureQueriesContext(connection) as captured:
        _recorded, next_task = run_claimed(task)
    assert next_task is not None
    # instance row first (as every episode takes it), then the task row; a miss reads the
    # history once more to replay it
    replay = [["SELECT"]] if not cached else []
    tail = ["INSERT", "UPDATE", "INSERT"]  # history, instance row, next task (RETURNING)
    head = ["SELECT", "UPDATE"]  # the instance lock (first, as every episode), the result
    assert round_trips(captured) == [*batched(head), *replay, *batched(tail)]


def test_outside_any_other_transaction_a_step_commits_in_its_last_round_trip(durable_client):
    """As a worker runs it: lock and result; then the tail with the COMMIT (PostgreSQL).
    The hooks after the commit still run: the cached state is confirmed."""
    from tests.support import workflows  # noqa: F401 - registers the test workflows

    iid = durable_client.start("t_chain", 5)
    _ran, task = run_episode_claiming(instance(iid).pk)
    with CaptureQueriesContext(connection) as captured:
        _recorded, next_task = run_claimed(task)
    assert next_task is not None and next_task.status == "running"
    sent = [q["sql"] for q in captured.captured_queries]
    if connection.vendor == "postgresql":
        tail = [s.split()[0] for s in sent[-2].split("; ")]  # Django logs its COMMIT last
        assert tail == ["INSERT", "UPDATE", "INSERT", "COMMIT"]
    entry = sticky_cache()._entries[instance(iid).pk]
    assert entry[3] is None  # confirmed by the on_commit hook: no longer provisional


def test_the_finishing_step_cancels_what_is_outstanding_in_the_same_round_trip(client):
    """Lock and result; then history, the three cancelling UPDATEs (tasks, timers,
    approvals), the instance row and the completion notice (PostgreSQL) together."""
    iid = client.start("t_chain", 1)
    _ran, task = run_episode_claiming(instance(iid).pk)
    with CaptureQueriesContext(connection) as captured:
        _recorded, next_task = run_claimed(task)
    assert next_task is None
    assert instance(iid).status == "completed"
    notice = ["SELECT"] if connection.vendor == "postgresql" else []  # pg_notify
    tail = ["INSERT", "UPDATE", "UPDATE", "UPDATE", "UPDATE", *notice]
    assert round_trips(captured) == [*batched(["SELECT", "UPDATE"]), *batched(tail)]


def test_a_wake_up_episode_reads_and_clears_its_inbox_in_a_constant_number(client):
    iid = client.start("t_fan_out", 30)  # SQLite splits bigger INSERTs (999 parameters)
    pk = instance(iid).pk
    with CaptureQueriesContext(connection) as captured:
        run_episode_claiming(pk, claim=False)
    # lock and inbox (read once the row is ours), then history, inbox delete, instance
    # row and 30 tasks in one INSERT: two round trips on PostgreSQL
    tail = ["INSERT", "DELETE", "UPDATE", "INSERT"]
    assert round_trips(captured) == [*batched(["SELECT", "SELECT"]), *batched(tail)]
    assert ActivityTask.objects.filter(instance_id=pk).count() == 30


def _round_of_three(pk: int) -> list:
    """Three finished tasks of a bounded fan-out of 4 (slow: the round takes no waiting
    task along), the fourth still open."""
    run_episode_claiming(pk, claim=False)
    merge._owing.clear()
    tasks = [claim_task(t.pk) for t in ActivityTask.objects.filter(instance_id=pk)]
    results = [(task, attempt(task, default_registry)) for task in tasks[:3]]
    for task, _outcome in results:
        task.attempt_seconds = 1.0
    return results


def test_a_round_of_several_results_records_them_with_the_lock_on_postgresql(client):
    """Lock and the results (one UPDATE) in one round trip on PostgreSQL, then history,
    instance row and next tasks in another."""
    iid = client.start("t_bounded_slow", {"count": 8, "parallel": 4, "sleep": 0})
    results = _round_of_three(instance(iid).pk)
    with CaptureQueriesContext(connection) as captured:
        recorded, claimed = merge.finish_together(results, default_registry, fallback=None)
    assert (recorded, len(claimed)) == (3, 3)
    tail = ["INSERT", "UPDATE", "INSERT"]
    if connection.vendor == "postgresql":
        assert round_trips(captured) == [["SELECT", "UPDATE"], tail]
    else:  # the lock, then the results by the ORM (their rows read, then written)
        assert round_trips(captured) == [["SELECT"], ["SELECT"], ["UPDATE"], *batched(tail)]
    assert (
        ActivityTask.objects.filter(instance_id=instance(iid).pk, status="completed").count() == 3
    )


def test_outside_any_other_transaction_a_round_commits_in_its_last_round_trip(durable_client):
    """As a worker runs it: lock and results; then the tail with the COMMIT (PostgreSQL),
    its hooks run after it."""
    from tests.support import workflows  # noqa: F401 - registers the test workflows

    iid = durable_client.start("t_bounded_slow", {"count": 8, "parallel": 4, "sleep": 0})
    results = _round_of_three(instance(iid).pk)
    with CaptureQueriesContext(connection) as captured:
        recorded, claimed = merge.finish_together(results, default_registry, fallback=None)
    assert (recorded, len(claimed)) == (3, 3)
    sent = [q["sql"] for q in captured.captured_queries]
    if connection.vendor == "postgresql":
        assert [s.split()[0] for s in sent[-2].split("; ")] == [
            "INSERT",
            "UPDATE",
            "INSERT",
            "COMMIT",
        ]
        # BEGIN, lock and results, the tail with the COMMIT, and the COMMIT Django logs
        # (its own finds the transaction ended: nothing sent)
        assert len(sent) == 4
    entry = sticky_cache()._entries[instance(iid).pk]
    assert entry[3] is None  # confirmed by the on_commit hook: no longer provisional


def _sent(captured) -> list[str]:
    return [q["sql"].split()[0].upper() for q in captured.captured_queries]


def test_a_start_under_a_fresh_id_is_one_statement_that_commits_by_itself(durable_client):
    """The instance row and its ExecutionStarted message in one INSERT ... (a WITH) on
    PostgreSQL, outside any transaction: no BEGIN, no COMMIT round trip. Elsewhere both
    INSERTs in one transaction. Either way both rows or neither."""
    from tests.support import workflows  # noqa: F401 - registers the test workflows

    with CaptureQueriesContext(connection) as captured:
        iid = durable_client.start("t_chain", 3)
    if connection.vendor == "postgresql":
        assert _sent(captured) == ["WITH"]
    else:
        assert [s for s in _sent(captured) if s == "INSERT"] == ["INSERT", "INSERT"]
    started = instance(iid)
    assert started.status == "pending"
    kinds = list(InboxMessage.objects.filter(instance=started).values_list("kind", flat=True))
    assert kinds == ["execution_started"]


def test_an_audited_start_writes_its_entry_in_the_same_transaction(durable_client):
    """A start by someone (the API's, the pages') is audited: the lookup of the id, the
    instance and its message (one statement), the audit entry, then the COMMIT."""
    from tests.support import workflows  # noqa: F401 - registers the test workflows

    user = get_user_model().objects.create_user("starter")
    with CaptureQueriesContext(connection) as captured:
        iid = durable_client.start("t_chain", 3, instance_id="audited-1", by=user)
    sent = [s for s in _sent(captured) if s not in ("SAVEPOINT", "RELEASE")]
    if connection.vendor == "postgresql":
        assert sent == ["BEGIN", "SELECT", "WITH", "INSERT", "COMMIT"]
    assert AuditEntry.objects.filter(instance=instance(iid), action="start", user=user).count() == 1
