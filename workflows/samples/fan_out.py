"""Fan-out/fan-in: ``process_files`` processes files in parallel, at most N at a time.

Input ``{"count": 20, "max_parallel": 4, "fail_items": [3]}``. An activity discovers
the work list (so it is recorded in history, never recomputed), then at most
``max_parallel`` files are in flight (default: the ``DURABLE_SAMPLE_MAX_PARALLEL``
setting, read by that activity). Custom status shows ``{"processed", "total"}``. A
failed file does not fail the run: the summary lists it (partial success).

``process_files_partitioned`` (``{"count": 10000, "partition_size": 500}``) splits a
large input into sub-orchestrations, one ``process_files`` per partition, so no single
history grows with the whole input.
"""

from __future__ import annotations

import hashlib

from workflows.conf import conf
from workflows.engine import FanOutFailed, NonRetryableError, Outcome, activity, orchestrator

from .inputs import SampleInputError, number, require_object

MAX_FILES = 100_000


class CorruptFile(NonRetryableError):  # noqa: N818 - reads as what happened
    """The file cannot be parsed; retrying will not help."""


@activity(name="list_files")
def list_files(ctx, request):
    """The work list (a slice of the inbox) and the parallelism to use for it."""
    offset, count = request.get("offset", 0), request["count"]
    default = conf.SAMPLE_MAX_PARALLEL
    return {
        "files": [f"inbox/file-{i:05d}.csv" for i in range(offset, offset + count)],
        "max_parallel": request.get("max_parallel") or default,
    }


@activity(name="process_file")
def process_file(ctx, item):
    if item["fail"]:
        raise CorruptFile(f"{item['file']}: unexpected end of data in row 17")
    digest = hashlib.sha256(item["file"].encode()).hexdigest()
    return {"index": item["index"], "rows": 100 + int(digest[:4], 16) % 900, "sha": digest[:12]}


def _checked(spec):
    spec = require_object(spec, "process_files")
    count = number(spec, "count", minimum=0, maximum=MAX_FILES, whole=True)
    offset = number(spec, "offset", default=0, minimum=0, whole=True)
    max_parallel = spec.get("max_parallel")
    if max_parallel is not None:
        number(spec, "max_parallel", minimum=1, maximum=1000, whole=True)
    fail_items = spec.get("fail_items", [])
    if not isinstance(fail_items, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in fail_items
    ):
        raise SampleInputError(f"'fail_items' must be a list of file indexes, not {fail_items!r}.")
    return count, offset, max_parallel, sorted(set(fail_items))


def _summary(files, outcomes, offset):
    failed = [
        {"index": offset + o.index, "file": files[o.index], "error": o.error.failure.summary()}
        for o in outcomes
        if not o.ok
    ]
    done = [o.result for o in outcomes if o.ok]
    return {
        "total": len(files),
        "succeeded": len(done),
        "failed": failed,
        "rows": sum(r["rows"] for r in done),
    }


@orchestrator(name="process_files")
def process_files(ctx, spec):
    count, offset, max_parallel, fail_items = _checked(spec)
    listing = yield ctx.call_activity(
        list_files, {"offset": offset, "count": count, "max_parallel": max_parallel}
    )
    files = listing["files"]
    failing = set(fail_items)
    items = [
        {"index": offset + i, "file": f, "fail": offset + i in failing} for i, f in enumerate(files)
    ]

    def progress(done, total):
        ctx.set_custom_status({"processed": done, "total": total})

    progress(0, len(items))
    try:
        results = yield from ctx.bounded_fan_out(
            process_file, items, listing["max_parallel"], on_progress=progress
        )
        outcomes = [Outcome(i, True, r) for i, r in enumerate(results)]
    except FanOutFailed as partial:
        outcomes = partial.outcomes
    return _summary(files, outcomes, offset)


@orchestrator(name="process_files_partitioned")
def process_files_partitioned(ctx, spec):
    spec = require_object(spec, "process_files_partitioned")
    count = number(spec, "count", minimum=0, maximum=MAX_FILES, whole=True)
    size = number(spec, "partition_size", default=500, minimum=1, maximum=MAX_FILES, whole=True)
    _, _, max_parallel, fail_items = _checked({**spec, "count": count})
    partitions = [(start, min(start + size, count)) for start in range(0, count, size)]
    ctx.set_custom_status({"partitions": len(partitions), "total": count})
    summaries = yield ctx.task_all(
        ctx.call_sub_orchestrator(
            process_files,
            {
                "offset": start,
                "count": end - start,
                "max_parallel": max_parallel,
                "fail_items": [i for i in fail_items if start <= i < end],
            },
        )
        for start, end in partitions
    )
    return {
        "total": sum(s["total"] for s in summaries),
        "succeeded": sum(s["succeeded"] for s in summaries),
        "failed": [f for s in summaries for f in s["failed"]],
        "rows": sum(s["rows"] for s in summaries),
        "partitions": len(partitions),
    }
