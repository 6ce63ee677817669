"""Entities fed by signals from many instances: a running total (class form).

Every ``count_processed`` run processes files (``process_files`` as a sub-orchestration)
and adds its processed count to the ``running_total`` entity ``processed_files`` with a
one-way signal: many instances at once, each signal applied exactly once, in batches.

Example::

    client.start("count_processed", {"count": 20})
    client.get_entity(("running_total", "processed_files")).state  # {"total": 20, "runs": 1}
"""

from __future__ import annotations

from workflows.engine import entity, orchestrator

TOTAL = ("running_total", "processed_files")


@entity(name="running_total")
class RunningTotal:
    """State: ``total`` and how many ``runs`` added to it."""

    total = 0
    runs = 0

    def add(self, amount):
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise ValueError(f"add takes a number, got {amount!r}")
        self.total += amount
        self.runs += 1
        return self.total

    def get(self):
        return {"total": self.total, "runs": self.runs}

    def reset(self):
        self.total = 0
        self.runs = 0


@orchestrator(name="count_processed")
def count_processed(ctx, spec):
    """Run process_files, then add what it processed to the running total."""
    summary = yield ctx.call_sub_orchestrator("process_files", spec)
    ctx.signal_entity(TOTAL, "add", summary["succeeded"])
    return summary
