"""The DBOS Transact side of `make bench-compare`: one rep of the workloads, run by the
python of its own virtualenv (.bench-venv/dbos, never the project's), in one process.

Usage: .bench-venv/dbos/bin/python tests/bench/compare_dbos.py '{"db": URL, "sizes": {...}}'

Prints ``RESULT {json}`` with the same figure keys as the durableapp side
(tests/bench/compare.py). Default DBOS settings; times are what the caller sees:
``start_workflow(...)`` to ``get_result()`` returned, on ``time.perf_counter``.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time

from dbos import DBOS, DBOSConfig

CONFIG = json.loads(sys.argv[1])
SIZES = CONFIG["sizes"]
PAD = "x" * 32  # the same payload as tests/bench/compare_workflows.py


@DBOS.step()
def cmp_step(i: int) -> dict:
    return {"i": i, "ok": True, "pad": PAD}


@DBOS.workflow()
def cmp_chain(steps: int) -> dict | None:
    result = None
    for i in range(steps):
        result = cmp_step(i)
    return result


@DBOS.workflow()
def cmp_children(count: int) -> int:
    """``count`` one-step child workflows through a queue that runs 16 at a time."""
    queue = DBOS.retrieve_queue("cmp_children")
    handles = [queue.enqueue(cmp_chain, 1) for _ in range(count)]
    return len([h.get_result() for h in handles])


def chain(steps: int) -> float:
    started = time.perf_counter()
    DBOS.start_workflow(cmp_chain, steps).get_result()
    return steps / (time.perf_counter() - started)


def many(count: int, steps: int) -> float:
    started = time.perf_counter()
    handles = [DBOS.start_workflow(cmp_chain, steps) for _ in range(count)]
    for handle in handles:
        handle.get_result()
    return count * steps / (time.perf_counter() - started)


def latency(samples: int) -> float:
    values = []
    for _ in range(samples):
        started = time.perf_counter()
        DBOS.start_workflow(cmp_chain, 1).get_result()
        values.append((time.perf_counter() - started) * 1000)
    return statistics.median(values)


def children(count: int) -> float:
    started = time.perf_counter()
    DBOS.start_workflow(cmp_children, count).get_result()
    return count / (time.perf_counter() - started)


def main() -> None:
    config: DBOSConfig = {
        "name": "durableapp-bench-compare",
        "system_database_url": CONFIG["db"],
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    logging.getLogger("dbos").setLevel(logging.WARNING)
    DBOS.register_queue("cmp_children", global_concurrency=SIZES["parallel"])
    try:
        # Warm-up, not counted: connections opened, code paths taken once.
        chain(20)
        latency(5)
        figures = {
            "chain_steps_per_s": chain(SIZES["chain"]),
            "many_steps_per_s": many(SIZES["many"], 5),
            "latency_median_ms": latency(SIZES["latency"]),
            "children_per_s": children(SIZES["children"]),
        }
    finally:
        DBOS.destroy()
    print("RESULT " + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
