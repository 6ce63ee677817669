"""The process's event loop for async activities: bounded, results off the loop, drained."""

from __future__ import annotations

import asyncio
import threading

from workflows.runtime.eventloop import ActivityLoop


def test_at_most_concurrency_coroutines_run_at_once_and_results_go_to_record_threads():
    loop = ActivityLoop(concurrency=3)
    running = peak = 0
    recorded: list[tuple[int, str]] = []
    lock = threading.Lock()

    def make(i: int):
        async def run() -> int:
            nonlocal running, peak
            running += 1  # only the loop thread touches these
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1
            return i

        return run

    def done(i: int) -> None:
        with lock:
            recorded.append((i, threading.current_thread().name))

    for i in range(12):
        loop.submit(make(i), done)
    assert loop.drain(timeout=30) == 0
    assert peak == 3
    assert sorted(i for i, _thread in recorded) == list(range(12))
    assert all(name.startswith("durable-record") for _i, name in recorded)


def test_cancel_all_stops_what_runs_and_records_nothing():
    loop = ActivityLoop(concurrency=2)
    recorded: list[object] = []
    for _ in range(4):
        loop.submit(lambda: asyncio.sleep(3600), recorded.append)
    assert loop.drain(timeout=0.05) == 4
    loop.cancel_all()
    assert loop.in_flight == 0 and recorded == []
