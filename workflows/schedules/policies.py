"""What a schedule does with due times: catch-up after downtime and overlap with a run
still going. Pure decisions over plain data, tested without a database.

Example::

    catch_up([t1, t2, t3], now, "latest", window=timedelta(hours=1), grace=GRACE)
    # -> ([t3], 2): run the latest, count two as missed
    plan([t1, t2], "skip", previous_running=False, buffered=False)
    # -> [Step(t1, START), Step(t2, SKIP)]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# overlap: what happens to a due run while the previous one is still going
SKIP = "skip"
BUFFER_ONE = "buffer_one"
ALLOW_ALL = "allow_all"
CANCEL_PREVIOUS = "cancel_previous"
TERMINATE_PREVIOUS = "terminate_previous"
OVERLAP = (SKIP, BUFFER_ONE, ALLOW_ALL, CANCEL_PREVIOUS, TERMINATE_PREVIOUS)

# catch-up: which missed times run after downtime (or a worker that fell behind)
ALL = "all"
LATEST = "latest"
NONE = "none"
CATCHUP = (ALL, LATEST, NONE)

# A run started within this of its time is on time, whatever the catch-up policy.
GRACE = timedelta(seconds=60)

# what a step does
START = "start"
BUFFER = "buffer"


@dataclass(frozen=True)
class Step:
    at: datetime
    action: str  # START, SKIP or BUFFER
    previous: str = ""  # CANCEL_PREVIOUS or TERMINATE_PREVIOUS: done to the running run first


def catch_up(
    due: list[datetime], now: datetime, policy: str, window: timedelta, grace: timedelta = GRACE
) -> tuple[list[datetime], int]:
    """The due times (oldest first) that run, and how many are missed.

    On-time times (within ``grace``) always run. Late ones: ``all`` runs those within
    ``window``; ``latest`` only the newest due time (if within ``window``); ``none``
    none.
    """
    on_time = [at for at in due if now - at <= grace]
    late = [at for at in due if now - at > grace]
    if policy == ALL:
        run = [at for at in late if now - at <= window]
    elif policy == LATEST and late and not on_time and now - late[-1] <= window:
        run = [late[-1]]
    else:
        run = []
    return run + on_time, len(late) - len(run)


def plan(times: list[datetime], overlap: str, previous_running: bool, buffered: bool) -> list[Step]:
    """One step per time, in order: each started run is "the previous" of the next."""
    steps: list[Step] = []
    for at in times:
        if not previous_running or overlap == ALLOW_ALL:
            steps.append(Step(at, START))
        elif overlap in (CANCEL_PREVIOUS, TERMINATE_PREVIOUS):
            steps.append(Step(at, START, previous=overlap))
        elif overlap == BUFFER_ONE and not buffered:
            steps.append(Step(at, BUFFER))
            buffered = True
            continue  # nothing new runs yet
        else:
            steps.append(Step(at, SKIP))
            continue
        previous_running = True
    return steps
