"""Activity heartbeats in the engine: the throttle (a fake clock), one run's beats
(a fake writer), ActivityContext and the in-memory runner. No database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows.engine import (
    ActivityCancelled,
    ActivityContext,
    PayloadError,
    PayloadTooLarge,
    RetryPolicy,
)
from workflows.engine.activity import run_activity
from workflows.engine.heartbeat import NO_DETAILS, Beat, Heartbeats, HeartbeatThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Writer:
    """Records every write; answers ``running`` (False: the task is no longer wanted)."""

    def __init__(self, running: bool | None = True) -> None:
        self.writes: list[Beat] = []
        self.running = running

    def __call__(self, beat: Beat) -> bool | None:
        self.writes.append(beat)
        return self.running

    @property
    def details(self) -> list:
        return [b.details for b in self.writes]


# -- the throttle ------------------------------------------------------------------------
def test_the_first_beat_is_written_at_once():
    throttle = HeartbeatThrottle(5.0, Clock())
    assert throttle.offer({"row": 1}) == Beat({"row": 1})


def test_beats_within_the_interval_are_held_back_and_the_latest_details_kept():
    clock = Clock()
    throttle = HeartbeatThrottle(5.0, clock)
    throttle.offer({"row": 1})
    clock.now += 1
    assert throttle.offer({"row": 2}) is None
    clock.now += 3.9
    assert throttle.offer({"row": 3}) is None
    assert throttle.pending == {"row": 3}
    clock.now += 0.1  # 5 s after the last write: allowed, with the latest details
    assert throttle.offer() == Beat({"row": 3})
    assert throttle.pending is NO_DETAILS


def test_a_beat_every_second_writes_once_per_interval():
    clock = Clock()
    throttle = HeartbeatThrottle(5.0, clock)
    written = []
    for second in range(21):
        if throttle.offer() is not None:
            written.append(second)
        clock.now += 1
    assert written == [0, 5, 10, 15, 20]


def test_a_beat_without_details_carries_no_details():
    throttle = HeartbeatThrottle(5.0, Clock())
    beat = throttle.offer()
    assert beat == Beat() and not beat.has_details


def test_flush_writes_only_details_still_held_back():
    clock = Clock()
    throttle = HeartbeatThrottle(5.0, clock)
    assert throttle.flush() is None  # nothing given
    throttle.offer({"row": 1})
    assert throttle.flush() is None  # already written
    clock.now += 1
    throttle.offer({"row": 2})
    assert throttle.flush() == Beat({"row": 2})
    assert throttle.flush() is None


def test_interval_zero_writes_every_beat():
    throttle = HeartbeatThrottle(0.0, Clock())
    assert all(throttle.offer(i) == Beat(i) for i in range(5))


# -- one run's heartbeats ------------------------------------------------------------------
def test_heartbeats_write_through_the_injected_writer_throttled():
    clock, writer = Clock(), Writer()
    beats = Heartbeats(writer, interval=3.0, clock=clock)
    for row in range(10):
        beats.beat({"row": row})
        clock.now += 1
    assert writer.details == [{"row": 0}, {"row": 3}, {"row": 6}, {"row": 9}]
    assert beats.details == {"row": 9}


def test_details_are_json_round_tripped_and_checked():
    writer = Writer()
    beats = Heartbeats(writer)
    beats.beat(("a", 1))
    assert writer.details == [["a", 1]]
    with pytest.raises(PayloadError, match="heartbeat details"):
        beats.beat({"when": object()})


def test_details_over_the_limit_raise_naming_the_setting():
    writer = Writer()
    beats = Heartbeats(writer, max_bytes=100, limit_setting="DURABLE_HEARTBEAT_MAX_BYTES")
    with pytest.raises(PayloadTooLarge, match="heartbeat details.*DURABLE_HEARTBEAT_MAX_BYTES"):
        beats.beat({"blob": "x" * 200})
    assert writer.writes == []


def test_a_write_that_finds_the_task_gone_cancels_and_raises():
    writer = Writer(running=False)
    beats = Heartbeats(writer, interval=5.0, clock=Clock())
    with pytest.raises(ActivityCancelled):
        beats.beat({"row": 1})
    assert beats.cancelled
    with pytest.raises(ActivityCancelled):  # every later beat too, without another write
        beats.beat()
    assert len(writer.writes) == 1


def test_a_throttled_beat_does_not_learn_of_a_cancellation():
    clock, writer = Clock(), Writer()
    beats = Heartbeats(writer, interval=5.0, clock=clock)
    beats.beat()
    writer.running = False  # cancelled now; the next write tells
    clock.now += 1
    beats.beat()  # held back: no write, no news
    clock.now += 4
    with pytest.raises(ActivityCancelled):
        beats.beat()


def test_a_write_that_failed_is_no_cancellation_and_its_details_go_with_the_next():
    clock, writer = Clock(), Writer(running=None)
    beats = Heartbeats(writer, interval=5.0, clock=clock)
    beats.beat({"row": 1})
    assert not beats.cancelled
    writer.running = True
    clock.now += 5
    beats.beat()
    assert writer.details == [{"row": 1}, {"row": 1}]


def test_newer_details_win_over_those_of_a_failed_write():
    clock, writer = Clock(), Writer(running=None)
    beats = Heartbeats(writer, interval=5.0, clock=clock)
    beats.beat({"row": 1})
    clock.now += 1
    beats.beat({"row": 2})
    clock.now += 4
    beats.beat()
    assert writer.details == [{"row": 1}, {"row": 2}]


def test_flush_after_cancellation_writes_nothing():
    clock, writer = Clock(), Writer(running=False)
    beats = Heartbeats(writer, interval=5.0, clock=clock)
    with pytest.raises(ActivityCancelled):
        beats.beat(1)
    beats.flush()
    assert len(writer.writes) == 1


# -- ActivityContext and run_activity --------------------------------------------------------
def make_ctx(registry, writer=None, last=None, interval=5.0, clock=None) -> ActivityContext:
    beats = Heartbeats(writer, interval=interval, clock=clock or Clock())
    return ActivityContext("i-1", "work", 1, "i-1:1:1", 1, "1", last, beats)


def test_an_activity_heartbeats_and_sees_the_last_heartbeat(registry):
    seen = []

    @registry.activity(name="work")
    def work(ctx, rows):
        seen.append(ctx.last_heartbeat)
        for row in range(ctx.last_heartbeat or 0, rows):
            ctx.heartbeat(row + 1)
        return "done"

    writer = Writer()
    outcome = run_activity(registry, make_ctx(registry, writer, last=2), 4)
    assert outcome.ok and outcome.result == "done"
    assert seen == [2]
    assert writer.details == [3]  # 4 was held back by the throttle: success needs no flush


def test_a_failing_attempt_flushes_the_details_held_back(registry):
    @registry.activity(name="work")
    def work(ctx, rows):
        for row in range(rows):
            ctx.heartbeat({"done": row})
        raise ConnectionError("lost it")

    writer = Writer()
    outcome = run_activity(registry, make_ctx(registry, writer), 5)
    assert not outcome.ok
    assert writer.details == [{"done": 0}, {"done": 4}]  # the first, then the flush


def test_a_cancelled_activity_fails_with_activity_cancelled_and_is_cancelled(registry):
    flags = []

    @registry.activity(name="work")
    def work(ctx, _):
        flags.append(ctx.is_cancelled)
        try:
            ctx.heartbeat("one")
        finally:
            flags.append(ctx.is_cancelled)

    writer = Writer(running=False)
    outcome = run_activity(registry, make_ctx(registry, writer), None)
    assert flags == [False, True]
    assert outcome.failure.is_instance_of(ActivityCancelled)
    assert len(writer.writes) == 1  # no flush after a cancellation


def test_without_a_writer_heartbeat_is_harmless(registry):
    ctx = ActivityContext("i-1", "work", 1, "key")
    ctx.heartbeat({"x": 1})
    ctx.heartbeat()
    assert not ctx.is_cancelled and ctx.last_heartbeat is None


def test_the_runner_hands_the_last_heartbeat_to_the_next_attempt(registry, make_runner):
    policy = RetryPolicy(max_attempts=3, first_retry=timedelta(seconds=1))
    resumed_from = []

    @registry.activity(name="import_rows")
    def import_rows(ctx, rows):
        start = (ctx.last_heartbeat or {}).get("done", 0)
        resumed_from.append(start)
        for i in range(start, rows):
            if ctx.attempt == 1 and i == 3:
                raise ConnectionError("dropped at row 3")
            ctx.heartbeat({"done": i + 1})
        return rows

    @registry.orchestrator(name="import")
    def run_import(ctx, rows):
        return (yield ctx.call_activity("import_rows", rows, retry=policy))

    runner = make_runner()
    iid = runner.start("import", 6)
    runner.run_until_idle(auto_advance=True)
    assert runner.status(iid).output == 6
    assert resumed_from == [0, 3]
