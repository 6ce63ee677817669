"""What the state allows (workflows/offers.py): the answer the page shows and the service
refuses with, from one pure function."""

from __future__ import annotations

import pytest

from workflows.offers import Facts, offers, refusal, rewindable

TASK_FAILED = ("execution_started", "activity_scheduled", "activity_failed", "execution_failed")
COMPENSATED = (
    "execution_started",
    "activity_scheduled",
    "activity_completed",
    "compensation_registered",
    "activity_scheduled",
    "activity_failed",
    "activity_scheduled",  # the undo
    "activity_completed",
    "execution_failed",
)


def test_rewind_is_offered_when_the_last_step_failed_on_a_task():
    assert rewindable(TASK_FAILED)
    assert offers(Facts("failed", TASK_FAILED))["rewind"].allowed


def test_rewind_is_shown_disabled_with_the_reason_on_a_compensated_saga():
    offer = offers(Facts("failed", COMPENSATED, ("compensated",)))["rewind"]
    assert not offer.allowed and offer.shown
    assert "restart it instead" in offer.reason


def test_retry_episode_is_disabled_while_a_compensation_waits_for_a_decision():
    facts = Facts("running", ("execution_started",), ("compensated", "failed"))
    offer = offers(facts)["retry-episode"]
    assert not offer.allowed and offer.shown
    assert "retry, resolve or skip the compensation" in offer.reason
    assert offers(facts)["terminate"].allowed


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        ("running", {"suspend", "retry-episode", "terminate"}),
        ("pending", {"suspend", "retry-episode", "terminate"}),
        ("suspended", {"resume", "terminate"}),
        ("completed", {"restart"}),
        ("terminated", {"restart"}),
    ],
)
def test_the_status_decides_the_rest(status, allowed):
    answer = offers(Facts(status))
    assert {k for k, o in answer.items() if o.allowed} == allowed
    assert {k for k, o in answer.items() if o.shown} == allowed  # others: no button at all
    assert refusal("resume", Facts("running")) == "it is running"
