"""Pure display helpers and the timeline builder: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.ui import display, timeline

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.35, "350 ms"),
        (2.5, "2.5 s"),
        (42, "42 s"),
        (185, "3 min 5 s"),
        (3600, "1 h"),
        (2 * 3600 + 5 * 60 + 9, "2 h 5 min"),
        (3 * 86400 + 4 * 3600, "3 d 4 h"),
        (-5, "0 ms"),
    ],
)
def test_human_duration(seconds, text):
    assert display.human_duration(timedelta(seconds=seconds)) == text


def test_time_left_until_a_deadline():
    assert display.time_left(None, T0) == display.Deadline("no deadline", "")
    assert display.time_left(T0 + timedelta(hours=3), T0) == display.Deadline("3 h left", "")
    assert display.time_left(T0 + timedelta(minutes=20), T0).urgency == "soon"
    late = display.time_left(T0 - timedelta(minutes=2), T0)
    assert (late.text, late.urgency) == ("deadline passed 2 min ago", "overdue")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"completed": 3, "total": 12}, (3, 12, 25)),
        ({"processed": 10, "total": 10}, (10, 10, 100)),
        ({"done": 1, "of": 3}, (1, 3, 33)),
        ({"completed": 5, "total": 0}, None),
        ({"completed": True, "total": 2}, None),
        ({"completed": "3", "total": 12}, None),
        ("working", None),
        (None, None),
    ],
)
def test_progress_from_custom_status(status, expected):
    bar = display.progress_of(status)
    assert (None if bar is None else (bar.done, bar.total, bar.percent)) == expected


def test_flat_details_become_rows():
    assert display.fields_of({"amount": 12.5, "for_what": "taxi", "tags": ["a"]}) == [
        ("amount", "12.5"),
        ("for what", "taxi"),
        ("tags", '["a"]'),
    ]
    assert display.fields_of([1, 2]) is None


def _rows(*events):
    return [
        {"seq": i, "kind": kind, "payload": payload, "timestamp": T0 + timedelta(seconds=at)}
        for i, (kind, payload, at) in enumerate(events, start=1)
    ]


def test_the_timeline_pairs_starts_with_completions_and_skips_episode_markers():
    line = timeline.build(
        _rows(
            ("orchestrator_started", {}, 0),
            ("execution_started", {"name": "order", "version": 2, "input": {"id": 1}}, 0),
            ("activity_scheduled", {"task_id": 1, "name": "charge", "input": 5}, 0),
            ("orchestrator_started", {}, 1.5),
            ("activity_failed", {"task_id": 1, "failure": {"type": "E", "message": "no"}}, 1.5),
            (
                "timer_created",
                {"task_id": 2, "fire_at": "2030-01-01T12:01:00+00:00", "purpose": "retry"},
                1.5,
            ),
            ("orchestrator_started", {}, 61.5),
            ("timer_fired", {"task_id": 2}, 61.5),
            ("activity_scheduled", {"task_id": 3, "name": "charge", "attempt": 2}, 61.5),
            ("activity_completed", {"task_id": 3, "result": "ok"}, 62),
            ("execution_completed", {"output": "paid"}, 62),
        )
    )

    assert line.episodes == 3
    titles = [e.title for e in line.entries]
    assert titles == [
        "Started order",
        "Activity charge scheduled",
        "Activity charge failed",
        "Retry back-off set",
        "Retry fired",
        "Activity charge scheduled",
        "Activity charge completed",
        "Completed",
    ]
    failed, fired, done, end = line.entries[2], line.entries[4], line.entries[6], line.entries[7]
    assert (failed.duration, failed.tone, failed.failure["message"]) == (
        timedelta(seconds=1.5),
        "bad",
        "no",
    )
    assert (fired.duration, fired.duration_label) == (timedelta(seconds=60), "waited")
    assert (done.duration, done.payload, done.has_payload) == (timedelta(seconds=0.5), "ok", True)
    assert (end.duration, end.duration_label, end.payload) == (timedelta(seconds=62), "ran", "paid")
    assert line.entries[5].detail == "attempt 2"
    assert end.offset == timedelta(seconds=62)


def test_approval_decisions_close_their_request_and_name_the_person():
    line = timeline.build(
        _rows(
            ("approval_requested", {"task_id": 4, "name": "expense", "assignees": "managers"}, 0),
            (
                "event_raised",
                {
                    "name": "durable:approval:4",
                    "data": {"approved": True, "decision": "approved", "by": "mia"},
                },
                300,
            ),
            (
                "event_raised",
                {"name": "durable:compensation:2", "data": {"action": "resolve", "by": "olga"}},
                301,
            ),
            ("event_raised", {"name": "shipped", "data": {"n": 1}, "event_id": "e-9"}, 302),
        )
    )

    request, decision, compensation, event = line.entries
    assert (request.title, request.tone) == ("Approval expense requested", "wait")
    assert (decision.title, decision.detail) == ("Approval expense approved", "by mia")
    assert decision.duration == timedelta(minutes=5)
    assert compensation.title == "Compensation decision: resolve"
    assert (event.title, event.detail, event.payload) == (
        "Event shipped received",
        "id e-9",
        {"n": 1},
    )


def test_an_empty_history_and_unknown_kinds():
    assert timeline.build([]) == timeline.Timeline([], 0)
    (entry,) = timeline.build(_rows(("something_new", {}, 0))).entries
    assert entry.title == "Something new"


def test_a_failed_saga_whose_undo_ran_is_not_a_crash():
    from workflows.ui.display import ending_of

    assert ending_of("failed", ["compensated", "compensated"]).label == "failed — compensated"
    by_hand = ending_of("failed", ["compensated", "resolved_manually"])
    assert by_hand.label == "failed — compensation resolved by hand"
    assert ending_of("failed", []) is None  # no saga: an unexpected failure
    assert ending_of("failed", ["compensated", "registered"]) is None  # not undone
    assert ending_of("completed", ["compensated"]) is None


def test_the_history_viewer_folds_pairs_and_lays_out_a_waterfall():
    line = timeline.build(
        _rows(
            ("execution_started", {"name": "order"}, 0),
            ("activity_scheduled", {"task_id": 1, "name": "charge"}, 0),
            ("activity_completed", {"task_id": 1, "result": 1}, 2),
            ("sub_orchestration_created", {"task_id": 2, "name": "ship", "instance_id": "c-1"}, 2),
            ("timer_created", {"task_id": 3, "purpose": "timer", "fire_at": "x"}, 4),
        ),
        now=T0 + timedelta(seconds=10),
    )

    folds = {e.kind: e.folds for e in line.entries}
    assert folds == {
        "execution_started": False,
        "activity_scheduled": True,  # its completion follows and carries the duration
        "activity_completed": False,
        "sub_orchestration_created": False,  # still running: nothing to fold into
        "timer_created": False,
    }
    child = next(e for e in line.entries if e.kind == "sub_orchestration_created")
    assert child.child_id == "c-1" and child.name == "ship"
    assert line.names == ["charge", "order", "ship", "timer"]
    charge, ship, timer = line.spans
    assert (charge.name, charge.tone, charge.open, charge.left, charge.width) == (
        "charge",
        "ok",
        False,
        0.0,
        20.0,
    )
    assert (ship.kind, ship.open, ship.left, ship.width) == ("child", True, 20.0, 80.0)
    assert (timer.kind, timer.tone, timer.left) == ("timer", "wait", 40.0)
    assert line.entries[2].event == {
        "seq": 3,
        "kind": "activity_completed",
        "timestamp": (T0 + timedelta(seconds=2)).isoformat(),
        "task_id": 1,
        "result": 1,
    }


def test_an_approval_summary_formats_numbers_and_dates_and_drops_empty_fields():
    rows = display.summary_fields(
        {
            "Amount": 1240.5,
            "Items": 12000,
            "Round": 3.0,
            "Supplier": "",
            "Note": None,
            "Needed by": "2030-01-02",
            "Asked at": "2030-01-02T08:30:00Z",
            "Urgent": True,
        }
    )
    assert [(r.label, r.text, r.kind) for r in rows] == [
        ("Amount", "1,240.50", "number"),
        ("Items", "12,000", "number"),
        ("Round", "3", "number"),
        ("Needed by", "Wed 2 Jan 2030", "date"),
        ("Asked at", "2030-01-02T08:30:00+00:00", "datetime"),
        ("Urgent", "yes", "text"),
    ]
    assert display.summary_fields(None) == [] and display.summary_fields(["x"]) == []


def test_the_progress_convention_reads_a_percent_or_counts_and_a_message():
    percent = display.progress_of({"progress": 40, "message": "copying"})
    counts = display.progress_of({"completed": 3, "total": 10, "step": "row 3"})

    assert (percent.percent, percent.label, percent.message) == (40, "40%", "copying")
    assert (counts.percent, counts.label, counts.message) == (30, "3 of 10 (30%)", "row 3")
    assert display.progress_of({"progress": 140}).percent == 100
    assert display.progress_of({"progress": True}) is None
    assert display.progress_of({"progress": "40"}) is None
