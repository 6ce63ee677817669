"""Limited activities used by tests/limits (imported by worker processes too).

Each run writes one file ``<dir>/<tag>-<i>-<attempt>-<pid>-<random>`` holding
``start end pid`` (``end`` is ``-`` while it runs, and stays so for a killed run), with
time.time() of every process on this machine: tests read the overlap and rate from them.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from workflows.engine import activity, orchestrator


def _record(ctx, spec):
    path = Path(spec["dir"]) / (
        f"{spec.get('tag', 'run')}-{spec['i']}-{ctx.attempt}-{os.getpid()}-{uuid.uuid4().hex}"
    )
    started = time.time()
    path.write_text(f"{started} - {os.getpid()}\n")
    time.sleep(spec.get("sleep", 0))
    path.write_text(f"{started} {time.time()} {os.getpid()}\n")
    return spec["i"]


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
    calls = [
        ctx.call_activity(
            spec["activity"],
            {"dir": spec["dir"], "sleep": spec.get("sleep", 0), "i": i, "tag": spec["tag"]},
        )
        for i in range(spec["count"])
    ]
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
    for path in Path(directory).iterdir():
        text = path.read_text().split()
        if len(text) != 3:
            continue  # caught between create and write
        start, end, pid = text
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


def max_starts_within(found: list[Run], seconds: float) -> int:
    """Most runs that started within any window of ``seconds``."""
    starts = sorted(r.start for r in found)
    best, first = 0, 0
    for last, moment in enumerate(starts):
        while moment - starts[first] >= seconds:
            first += 1
        best = max(best, last - first + 1)
    return best
