"""Catch-up and overlap decisions, pure (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.schedules import policies
from workflows.schedules.policies import BUFFER, SKIP, START, Step, catch_up, plan

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
# due every 10 minutes during two hours of downtime, the last one just now
DUE = [NOW - timedelta(minutes=10 * n) for n in range(12, -1, -1)]


def test_catch_up_all_runs_the_missed_times_within_the_window():
    run, missed = catch_up(DUE, NOW, policies.ALL, window=HOUR)
    assert run == [at for at in DUE if NOW - at <= HOUR]
    assert missed == len(DUE) - len(run) == 6


def test_catch_up_latest_runs_only_the_on_time_run_when_there_is_one():
    run, missed = catch_up(DUE, NOW, policies.LATEST, window=HOUR)
    assert run == [NOW] and missed == 12


def test_catch_up_latest_runs_the_newest_late_time_when_none_is_on_time():
    due = DUE[:-1]  # the last one was 10 minutes ago
    run, missed = catch_up(due, NOW, policies.LATEST, window=HOUR)
    assert run == [due[-1]] and missed == len(due) - 1


def test_catch_up_none_runs_only_what_is_on_time():
    run, missed = catch_up(DUE, NOW, policies.NONE, window=HOUR)
    assert run == [NOW] and missed == 12
    assert catch_up(DUE[:-1], NOW, policies.NONE, window=HOUR) == ([], 12)


def test_nothing_late_runs_beyond_the_window():
    old = [NOW - 3 * HOUR]
    for policy in policies.CATCHUP:
        assert catch_up(old, NOW, policy, window=HOUR) == ([], 1)


TIMES = [NOW, NOW + HOUR, NOW + 2 * HOUR]


@pytest.mark.parametrize("policy", policies.OVERLAP)
def test_without_a_run_going_the_first_time_starts(policy):
    assert plan(TIMES[:1], policy, previous_running=False, buffered=False) == [Step(NOW, START)]


def test_skip_skips_while_the_previous_run_goes():
    assert [s.action for s in plan(TIMES, SKIP, previous_running=True, buffered=False)] == [
        SKIP,
        SKIP,
        SKIP,
    ]
    assert [s.action for s in plan(TIMES, SKIP, False, False)] == [START, SKIP, SKIP]


def test_buffer_one_keeps_one_and_skips_the_rest():
    steps = plan(TIMES, policies.BUFFER_ONE, previous_running=True, buffered=False)
    assert [s.action for s in steps] == [BUFFER, SKIP, SKIP]
    already = plan(TIMES[:1], policies.BUFFER_ONE, previous_running=True, buffered=True)
    assert [s.action for s in already] == [SKIP]


def test_allow_all_starts_every_one():
    steps = plan(TIMES, policies.ALLOW_ALL, previous_running=True, buffered=False)
    assert [(s.action, s.previous) for s in steps] == [(START, "")] * 3


@pytest.mark.parametrize("policy", [policies.CANCEL_PREVIOUS, policies.TERMINATE_PREVIOUS])
def test_cancel_and_terminate_end_the_previous_run_before_each_start(policy):
    steps = plan(TIMES, policy, previous_running=True, buffered=False)
    assert [(s.action, s.previous) for s in steps] == [(START, policy)] * 3
    first = plan(TIMES, policy, previous_running=False, buffered=False)
    assert [s.previous for s in first] == ["", policy, policy]
