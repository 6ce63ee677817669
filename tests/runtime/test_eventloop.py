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
    for _ in range(4):  # a record thread's hand-over: past the bound, without waiting
        loop.submit(lambda: asyncio.sleep(3600), recorded.append, wait=False)
    assert loop.drain(timeout=0.05) == 4
    loop.cancel_all()
    assert loop.in_flight == 0 and recorded == []


def test_a_worker_thread_waits_for_a_free_slot_before_handing_over():
    # A full loop must leave further messages in the broker (other workers take them):
    # the hand-over blocks until an attempt in flight is recorded.
    loop = ActivityLoop(concurrency=2)
    release = threading.Event()

    async def held() -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)

    for _ in range(2):
        loop.submit(held, lambda _result: None)
    third_handed_over = threading.Event()

    def hand_over_third() -> None:
        loop.submit(held, lambda _result: None)
        third_handed_over.set()

    threading.Thread(target=hand_over_third, daemon=True).start()
    assert not third_handed_over.wait(0.3)
    assert loop.in_flight == 2
    release.set()
    assert third_handed_over.wait(10)
    assert loop.drain(timeout=10) == 0
