"""History events: every class round-trips through its JSON payload."""

from __future__ import annotations

import dataclasses
import json
import typing
from datetime import datetime, timedelta, timezone

import pytest

from workflows.engine import FailureDetails
from workflows.engine import events as ev

from .builders import T0, failure_of

FAILURE = failure_of(ValueError("bad input"))
LATER = T0 + timedelta(minutes=5)

# Sample values by field name (and a few by annotation), so that a new event class
# is covered without editing this file.
SAMPLES_BY_NAME: dict[str, typing.Any] = {
    "timestamp": T0,
    "fire_at": LATER,
    "deadline": LATER,
    "failure": FAILURE,
    "input": {"order": [1, 2.5, "x", None, True]},
    "output": ["done", {"n": 1}],
    "result": {"nested": {"list": [1, 2]}},
    "data": {"approved": True},
    "name": "charge_payment",
    "instance_id": "order-1:3",
    "reason": "operator said stop",
    "purpose": "retry",
    "event_id": "evt-9",
    "entities": ("@counter@a", "@counter@b"),
}


def sample_for(field: dataclasses.Field) -> typing.Any:
    if field.name in SAMPLES_BY_NAME:
        return SAMPLES_BY_NAME[field.name]
    annotation = str(field.type)
    if "int" in annotation:
        return 7
    if "str" in annotation:
        return f"sample-{field.name}"
    if "datetime" in annotation:
        return LATER
    return {"any": field.name}


def sample_event(cls: type[ev.HistoryEvent]) -> ev.HistoryEvent:
    return cls(**{f.name: sample_for(f) for f in dataclasses.fields(cls)})


@pytest.mark.parametrize("cls", list(ev.EVENT_CLASSES.values()), ids=lambda c: c.__name__)
def test_every_event_round_trips_through_json(cls):
    event = sample_event(cls)
    payload = ev.event_to_payload(event)
    text = json.dumps({"kind": str(event.kind), "payload": payload})
    stored = json.loads(text)
    assert ev.event_from_payload(stored["kind"], stored["payload"]) == event


@pytest.mark.parametrize("cls", list(ev.EVENT_CLASSES.values()), ids=lambda c: c.__name__)
def test_every_event_round_trips_with_defaults(cls):
    required = {
        f.name: sample_for(f)
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    event = cls(**required)
    payload = json.loads(json.dumps(ev.event_to_payload(event)))
    assert ev.event_from_payload(cls.kind, payload) == event


def test_every_event_type_has_a_class():
    assert set(ev.EVENT_CLASSES) == set(ev.EventType)
    for kind, cls in ev.EVENT_CLASSES.items():
        assert cls.kind is kind


def test_events_are_frozen():
    event = ev.ActivityCompleted(1, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.result = "y"  # type: ignore[misc]


def test_datetimes_keep_their_timezone():
    plus_two = timezone(timedelta(hours=2))
    event = ev.TimerFired(3, datetime(2026, 5, 1, 12, 30, tzinfo=plus_two))
    back = ev.event_from_payload("timer_fired", json.loads(json.dumps(ev.event_to_payload(event))))
    assert back.fire_at.utcoffset() == timedelta(hours=2)
    assert back == event


def test_failure_details_are_stored_as_dicts():
    payload = ev.event_to_payload(ev.ActivityFailedEvent(2, FAILURE))
    assert payload["failure"]["type"] == "ValueError"
    assert payload["failure"]["message"] == "bad input"
    assert "Traceback" in payload["failure"]["traceback"]
    assert payload["failure"]["type_names"][0] == "ValueError"
    assert FailureDetails.from_dict(payload["failure"]) == FAILURE


def test_unknown_kind_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown history event kind 'activity_exploded'"):
        ev.event_from_payload("activity_exploded", {})


def test_unknown_fields_are_ignored_when_reading():
    # Rows written by a newer version with an extra field still load.
    event = ev.event_from_payload("activity_completed", {"task_id": 1, "result": 2, "extra": 3})
    assert event == ev.ActivityCompleted(1, 2)


def test_kind_accepts_the_enum_or_its_value():
    payload = ev.event_to_payload(ev.EventRaised("go", 1))
    assert ev.event_from_payload(ev.EventType.EVENT_RAISED, payload) == ev.EventRaised("go", 1)
    assert ev.event_from_payload("event_raised", payload) == ev.EventRaised("go", 1)


def test_task_id_of():
    assert ev.task_id_of(ev.ActivityScheduled(4, "a")) == 4
    assert ev.task_id_of(ev.EventRaised("go")) is None
