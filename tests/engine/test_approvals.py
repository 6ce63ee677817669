"""request_approval: a human decision with a durable deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import ApprovalTimeout, DurableError, InstanceRef, execute
from workflows.engine import actions as act
from workflows.engine import events as ev

from .builders import T0, episodes_of, recording_episodes, replay_then_apply, run_fresh

DAY = timedelta(days=1)


@pytest.fixture
def expense(registry):
    @registry.orchestrator(name="expense")
    def expense(ctx, claim):
        try:
            decision = yield ctx.request_approval(
                "expense", assignees="managers", details=claim, timeout=2 * DAY
            )
        except ApprovalTimeout as exc:
            return {"expired": exc.name, "deadline": str(exc.deadline)}
        if not decision["approved"]:
            return {"rejected_by": decision["by"], "comment": decision["comment"]}
        return {"approved_by": decision["by"], "at": decision["at"]}


def test_approval_request_is_recorded_and_decided(expense, runner):
    iid = runner.start("expense", {"amount": 120})
    runner.run_until_idle()
    [request] = runner.approvals(iid)
    assert request["name"] == "expense"
    assert request["assignees"] == "managers"
    assert request["details"] == {"amount": 120}
    assert request["deadline"] == T0 + 2 * DAY
    assert request["status"] == "pending"
    history = runner.status(iid).history
    assert [e.purpose for e in history if isinstance(e, ev.TimerCreated)] == ["approval_deadline"]
    assert any(isinstance(e, ev.ApprovalRequested) for e in history)

    runner.advance(DAY)
    runner.decide(iid, request["task_id"], approve=True, by="maria")
    runner.run_until_idle()
    assert runner.status(iid).output == {
        "approved_by": "maria",
        "at": (T0 + DAY).isoformat(),
    }
    assert runner.approvals(iid)[0]["status"] == "approved"


def test_rejection_carries_the_comment(expense, runner):
    iid = runner.start("expense", {"amount": 9000})
    runner.run_until_idle()
    task_id = runner.approvals(iid)[0]["task_id"]
    runner.decide(iid, task_id, approve=False, by="lee", comment="too much")
    runner.run_until_idle()
    assert runner.status(iid).output == {"rejected_by": "lee", "comment": "too much"}
    assert runner.approvals(iid)[0]["status"] == "rejected"


def test_deadline_expires_the_request(expense, runner):
    iid = runner.start("expense", {"amount": 5})
    runner.run_until_idle()
    runner.advance(2 * DAY)
    assert runner.status(iid).output == {
        "expired": "expense",
        "deadline": str(T0 + 2 * DAY),
    }
    [request] = runner.approvals(iid)
    assert request["status"] == "expired"
    with pytest.raises(DurableError, match="is not pending"):
        runner.decide(iid, request["task_id"], approve=True)


def test_approval_without_deadline_waits_for_ever(registry, runner):
    @registry.orchestrator(name="open_ended")
    def open_ended(ctx, _):
        decision = yield ctx.request_approval("go-live", assignees="ops")
        return decision["decision"]

    iid = runner.start("open_ended")
    runner.run_until_idle(auto_advance=True)
    assert runner.status(iid).status == "running"
    assert not any(isinstance(e, ev.TimerCreated) for e in runner.status(iid).history)
    runner.decide(iid, runner.approvals(iid)[0]["task_id"], approve=True)
    runner.run_until_idle()
    assert runner.status(iid).output == "approved"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": " ", "assignees": "ops"}, "needs a non-empty name"),
        ({"name": "x", "assignees": ""}, "needs assignees"),
        ({"name": "x", "assignees": "ops", "timeout": 5}, "timedelta or a datetime"),
        ({"name": "x", "assignees": "ops", "details": {1}}, "approval details is not JSON"),
    ],
)
def test_bad_approval_requests_fail_with_a_clear_message(registry, kwargs, message):
    @registry.orchestrator(name="bad")
    def bad(ctx, _):
        args = dict(kwargs)
        yield ctx.request_approval(args.pop("name"), **args)

    result = execute(registry, InstanceRef("a-1"), [], [ev.ExecutionStarted("bad", 1)], now=T0)
    assert message in result.failure.message


def test_approval_replays_and_kept_alive_state_matches(expense, registry, runner):
    with recording_episodes() as recorded:
        expired = runner.start("expense", {"amount": 1})
        decided = runner.start("expense", {"amount": 2})
        runner.run_until_idle()
        runner.decide(decided, runner.approvals(decided)[0]["task_id"], approve=True)
        runner.run_until_idle()
        runner.advance(3 * DAY)
    for iid in (expired, decided):
        episodes = episodes_of(recorded, iid)
        expected = [e.result for e in episodes]
        assert run_fresh(registry, episodes) == expected
        for split in range(len(episodes) + 1):
            assert replay_then_apply(registry, episodes, split)[1] == expected[split:]
    # The expiry is reported once, live.
    updates = [
        a
        for e in episodes_of(recorded, expired)
        for a in e.result.actions
        if isinstance(a, act.UpdateApproval)
    ]
    assert [u.status for u in updates] == ["expired"]


def test_a_request_carries_its_card_title_summary_and_reason_rule(registry, runner):
    @registry.orchestrator(name="carded")
    def carded(ctx, claim):
        return (
            yield ctx.request_approval(
                "expense",
                assignees="managers",
                details=claim,
                title=f"Expense of {claim['who']}",
                summary={"Amount": claim["amount"], "Due": "2030-01-02"},
                reason_required=True,
            )
        )

    iid = runner.start("carded", {"who": "Ann", "amount": 120.5})
    runner.run_until_idle()

    [request] = runner.approvals(iid)
    assert request["title"] == "Expense of Ann"
    assert request["summary"] == {"Amount": 120.5, "Due": "2030-01-02"}
    assert request["reason_required"] is True
    older = {"task_id": 1, "name": "x", "assignees": "g"}  # recorded before these options
    assert ev.event_from_payload("approval_requested", older).title == ""
    event = ev.ApprovalRequested(1, "x", "g", title="T", summary={"A": 1}, reason_required=True)
    assert ev.event_from_payload("approval_requested", ev.event_to_payload(event)) == event


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"title": 7}, "title must be text"),
        ({"summary": ["Amount", 1]}, "summary must be a dict of labels"),
        ({"reason_required": "yes"}, "reason_required must be True or False"),
    ],
)
def test_a_bad_card_option_is_named(registry, runner, options, message):
    @registry.orchestrator(name="bad_card")
    def bad_card(ctx, _):
        return (yield ctx.request_approval("x", assignees="g", **options))

    iid = runner.start("bad_card", None)
    runner.run_until_idle()

    assert message in str(runner.status(iid).failure)
