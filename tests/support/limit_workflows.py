"""Limited activities used by tests/limits (imported by worker processes too).

Each run writes one file ``<dir>/<tag>-<i>-<attempt>-<pid>-<random>`` holding
``start end pid`` (``end`` is ``-`` while it runs, and stays so for a killed run), with
time.time() of every process on this machine: tests read which runs overlapped from them.
A run given a ``gate`` (a file's path) waits, once started, until that file exists, so a
test decides when slots are given back.

The rate is read from what the limiter itself recorded (``limiter_windows``), never from
the runs' clocks: a run starts a moment after its claim, longer on a busy machine.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.markers import write_whole
from workflows.engine import activity, orchestrator


def _record(ctx, spec):
    path = Path(spec["dir"]) / (
        f"{spec.get('tag', 'run')}-{spec['i']}-{ctx.attempt}-{os.getpid()}-{uuid.uuid4().hex}.run"
    )
    started = time.time()
    write_whole(path, f"{started} - {os.getpid()}\n")
    if spec.get("gate"):
        _wait_for(Path(spec["gate"]))
    time.sleep(spec.get("sleep", 0))
    write_whole(path, f"{started} {time.time()} {os.getpid()}\n")
    return spec["i"]


def _wait_for(gate: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not gate.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{gate} never opened")  # the test failed before opening it
        time.sleep(0.01)


@activity(name="lim_five", max_concurrency=5)
def lim_five(ctx, spec):
    return _record(ctx, spec)


@activity(name="lim_two", max_concurrency=2)
def lim_two(ctx, spec):
    return _record(ctx, spec)


@activity(name="lim_rate", rate_limit="20/s")
def lim_rate(ctx, spec):
    return _record(ctx, spec)


@activity(name="lim_partner", max_concurrency=2, queue="lim-partner")
def lim_partner(ctx, spec):
    return _record(ctx, spec)


@activity(name="lim_plain")
def lim_plain(ctx, spec):
    return _record(ctx, spec)


@orchestrator(name="lim_fan_out")
def lim_fan_out(ctx, spec):
    """``count`` calls of ``activity`` at once; returns how many finished."""
    given = {key: spec[key] for key in ("dir", "tag", "sleep", "gate") if key in spec}
    calls = [ctx.call_activity(spec["activity"], {**given, "i": i}) for i in range(spec["count"])]
    results = yield ctx.task_all(calls)
    return len(results)


@orchestrator(name="lim_chain")
def lim_chain(ctx, spec):
    """``count`` calls of ``activity`` one after the other."""
    for i in range(spec["count"]):
        yield ctx.call_activity(spec["activity"], {"dir": spec["dir"], "i": i, "tag": spec["tag"]})
    return spec["count"]


@orchestrator(name="lim_steps")
def lim_steps(ctx, spec):
    """The activities named in ``steps``, one after the other."""
    for i, name in enumerate(spec["steps"]):
        yield ctx.call_activity(name, {"dir": spec["dir"], "i": i, "tag": spec["tag"]})
    return len(spec["steps"])


# -- reading the records -----------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    tag: str
    start: float
    end: float | None  # None: never finished (its worker was killed)
    pid: int


def runs(directory: str | Path, tag: str | None = None) -> list[Run]:
    found = []
    # Whole records only (write_whole): not a gate file, nor one being written (.part).
    for path in Path(directory).glob("*.run"):
        start, end, pid = path.read_text().split()
        run = Run(
            path.name.split("-")[0], float(start), None if end == "-" else float(end), int(pid)
        )
        if tag is None or run.tag == tag:
            found.append(run)
    return sorted(found, key=lambda r: r.start)


def max_overlap(found: list[Run]) -> int:
    """Most runs going on at one moment (an unfinished run counts until ``forever``)."""
    edges = []
    for run in found:
        edges.append((run.start, 1))
        edges.append((run.end if run.end is not None else float("inf"), -1))
    current = peak = 0
    for _moment, change in sorted(edges):  # an end sorts before a start at the same moment
        current += change
        peak = max(peak, current)
    return peak


# -- what the limiter decided ----------------------------------------------------------------
# The limiter counts a rate's starts per 1/20 of its period (workflows/limits: RATE_SLOTS).
SLOTS_PER_PERIOD = 20
LOG_TABLE = "test_limiter_windows"


@contextmanager
def limiter_windows() -> Iterator[Callable[[str], list[list[list[float]]]]]:
    """Record every window of recent starts the limiter saves, start by start.

    The limiter keeps ``[[slot start, starts], ...]`` for its last period in
    ActivityLimitState.recent_starts and saves it with each start it allows; a database
    trigger copies each saved value (from every process) into a table. Yields
    ``windows(activity)``: those values in the order they were saved.
    """
    from django.conf import settings
    from django.db import connection

    from workflows.models import ActivityLimitState

    state = ActivityLimitState._meta.db_table
    if connection.vendor == "postgresql":
        create = [
            f"CREATE TABLE {LOG_TABLE} (id bigserial PRIMARY KEY, task_hub text, "
            "activity text, recent_starts text)",
            f"CREATE FUNCTION {LOG_TABLE}_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO {LOG_TABLE} (task_hub, activity, recent_starts) "
            "VALUES (NEW.task_hub, NEW.activity, NEW.recent_starts::text); RETURN NEW; END $$",
            f"CREATE TRIGGER {LOG_TABLE} AFTER UPDATE OF recent_starts ON {state} "
            f"FOR EACH ROW EXECUTE FUNCTION {LOG_TABLE}_copy()",
        ]
        drop = [
            f"DROP TRIGGER IF EXISTS {LOG_TABLE} ON {state}",
            f"DROP FUNCTION IF EXISTS {LOG_TABLE}_copy()",
            f"DROP TABLE IF EXISTS {LOG_TABLE}",
        ]
    else:
        create = [
            f"CREATE TABLE {LOG_TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, task_hub TEXT, "
            "activity TEXT, recent_starts TEXT)",
            f"CREATE TRIGGER {LOG_TABLE} AFTER UPDATE OF recent_starts ON {state} BEGIN "
            f"INSERT INTO {LOG_TABLE} (task_hub, activity, recent_starts) "
            "VALUES (NEW.task_hub, NEW.activity, NEW.recent_starts); END",
        ]
        drop = [f"DROP TRIGGER IF EXISTS {LOG_TABLE}", f"DROP TABLE IF EXISTS {LOG_TABLE}"]

    def windows(activity: str) -> list[list[list[float]]]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT recent_starts FROM {LOG_TABLE} WHERE task_hub = %s AND activity = %s "
                "ORDER BY id",
                [settings.DURABLE_TASK_HUB, activity],
            )
            return [json.loads(value) for (value,) in cursor.fetchall()]

    with connection.cursor() as cursor:
        for statement in drop + create:
            cursor.execute(statement)
    try:
        yield windows
    finally:
        with connection.cursor() as cursor:
            for statement in drop:
                cursor.execute(statement)


def starts_per_slot(windows: list[list[list[float]]], period: float) -> dict[int, int]:
    """Starts the limiter allowed per slot (numbered slot start / slot length), read from
    the windows it saved: a slot's count only grows, so the highest is its count."""
    size = period / SLOTS_PER_PERIOD
    counted: dict[int, int] = {}
    for window in windows:
        for start, starts in window:
            slot = round(start / size)
            counted[slot] = max(counted.get(slot, 0), starts)
    return counted


def most_starts_in_a_period(slots: dict[int, int]) -> int:
    """Most starts in any SLOTS_PER_PERIOD consecutive slots (one period)."""
    return max(
        sum(slots.get(slot, 0) for slot in range(first, first + SLOTS_PER_PERIOD))
        for first in slots
    )
