"""Test orchestrators of tests/samples (also imported by worker processes).

``s_versioned`` exists in two versions, as after a deploy that changed its steps:
instances started on version 1 keep replaying version 1.
"""

from __future__ import annotations

from tests.support import workflows as _support  # noqa: F401 - registers t_add
from workflows.engine import orchestrator


@orchestrator(name="s_versioned", version=1)
def versioned_v1(ctx, _input):
    total = yield ctx.call_activity("t_add", {"a": 1, "b": 1})
    answer = yield ctx.wait_for_external_event("continue")
    return {"version": 1, "total": total, "answer": answer}


@orchestrator(name="s_versioned", version=2)
def versioned_v2(ctx, _input):
    # Version 2 added a step in front: version 1 histories would not replay on it.
    base = yield ctx.call_activity("t_add", {"a": 10, "b": 10})
    total = yield ctx.call_activity("t_add", {"a": base, "b": 1})
    answer = yield ctx.wait_for_external_event("continue")
    return {"version": 2, "total": total, "answer": answer}
