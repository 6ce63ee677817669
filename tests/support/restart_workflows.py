"""The load of the restart tests (tests/runtime/test_restarts.py; imported by their workers).

Every step needs the broker: two activities at once (an episode's tasks go out as
messages; a chain of single activities could run on in one thread without it) and a
short timer (fired by a sweeper through the broker). So a broker outage stops every
instance until the broker is back, and a database outage stops everything.
"""

from __future__ import annotations

import time
from datetime import timedelta

from workflows.engine import activity, orchestrator


@activity(name="r_sleep")
def r_sleep(ctx, seconds):
    time.sleep(seconds)
    return seconds


@orchestrator(name="r_steps")
def r_steps(ctx, spec):
    done = 0
    for _ in range(spec["steps"]):
        yield ctx.task_all([ctx.call_activity("r_sleep", spec["sleep"]) for _ in range(2)])
        yield ctx.create_timer(timedelta(seconds=0.1))
        done += 1
    return done
