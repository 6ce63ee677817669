"""The process's event loop for async activities: bounded, results off the loop, drained.

No timing: each test waits for what it observes (an event, the loop's ``waiting`` count),
with generous deadlines that only a broken loop reaches.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.support.checks import wait_until
from workflows.runtime import shutdown
from workflows.runtime.eventloop import ActivityLoop


@pytest.fixture
def new_loop():
    """Make loops of a test; each is closed (its loop and record threads end) afterwards."""
    loops: list[ActivityLoop] = []

    def make(concurrency: int) -> ActivityLoop:
        loops.append(ActivityLoop(concurrency))
        return loops[-1]

    yield make
    for loop in loops:
        loop.close()


@pytest.fixture
def stopping():
    """Begin this process's shutdown by hand; reset after the test."""
    yield shutdown.begin
    shutdown.reset()


def test_at_most_concurrency_coroutines_run_at_once_and_results_go_to_record_threads(new_loop):
    loop = new_loop(3)
    running = peak = 0
    recorded: list[tuple[int, str]] = []
    lock = threading.Lock()
    full = asyncio.Event()  # only the loop thread touches it (and the counters)

    def make(i: int):
        async def run() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            if running == 3:
                full.set()
            await asyncio.wait_for(full.wait(), 30)  # the first three overlap for sure
            await asyncio.sleep(0)
            running -= 1
            return i

        return run

    def done(i: int) -> None:
        with lock:
            recorded.append((i, threading.current_thread().name))

    for i in range(12):
        assert loop.submit(make(i), done)
    assert loop.drain(timeout=30) == 0
    assert peak == 3
    assert sorted(i for i, _thread in recorded) == list(range(12))
    assert all(name.startswith("durable-record") for _i, name in recorded)


def test_cancel_all_stops_what_runs_and_records_nothing(new_loop):
    loop = new_loop(4)
    recorded: list[object] = []
    released: list[object] = []
    started = threading.Semaphore(0)

    async def forever() -> None:
        started.release()
        await asyncio.sleep(3600)

    for _ in range(4):
        assert loop.submit(forever, recorded.append, lambda: released.append(1))
    for _ in range(4):
        assert started.acquire(timeout=30)
    assert loop.in_flight == 4
    loop.cancel_all()
    # Cancelled is a shutdown's: the worker releases the leases, nothing is recorded here.
    assert loop.in_flight == 0 and recorded == [] and released == []


def test_a_worker_thread_waits_for_a_free_slot_before_handing_over(new_loop):
    # A full loop must leave further messages in the broker (other workers take them):
    # the hand-over blocks until an attempt in flight is recorded.
    loop = new_loop(2)
    release = threading.Event()

    async def held() -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)

    for _ in range(2):
        assert loop.submit(held, lambda _result: None)
    third_handed_over = threading.Event()

    def hand_over_third() -> None:
        loop.submit(held, lambda _result: None)
        third_handed_over.set()

    threading.Thread(target=hand_over_third, daemon=True).start()
    wait_until(lambda: loop.waiting == 1, timeout=30, what="the third hand-over to wait")
    assert not third_handed_over.is_set() and loop.in_flight == 2
    release.set()
    assert third_handed_over.wait(30)
    assert loop.drain(timeout=30) == 0


def test_a_waiting_hand_over_is_refused_once_the_process_stops(new_loop, stopping):
    # Else it could hand over a task the shutdown already gave to another worker.
    loop = new_loop(1)
    release = threading.Event()

    async def held() -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)

    assert loop.submit(held, lambda _result: None)
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(loop.submit(held, print)))
    waiter.start()
    wait_until(lambda: loop.waiting == 1, timeout=30, what="the hand-over to wait")
    stopping()
    waiter.join(30)
    assert answers == [False] and loop.in_flight == 1
    assert loop.submit(held, print) is False  # and nothing new while stopping
    release.set()
    assert loop.drain(timeout=30) == 0


def test_try_submit_refuses_a_full_loop_but_a_record_thread_hands_its_slot_on(new_loop):
    loop = new_loop(1)
    release = threading.Event()
    results: list[object] = []
    answers: dict[str, bool] = {}

    async def held() -> str:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return "first"

    async def second() -> str:
        return "second"

    def go_on(result: str) -> None:
        results.append(result)
        # The loop is full (this attempt is still in flight): only its own slot fits.
        answers["record thread"] = loop.try_submit(second, results.append)

    assert loop.try_submit(held, go_on)
    answers["worker thread"] = loop.try_submit(second, results.append)
    release.set()
    assert loop.drain(timeout=30) == 0
    assert answers == {"worker thread": False, "record thread": True}
    assert results == ["first", "second"]


@pytest.mark.parametrize("where", ["attempt", "record"])
def test_an_attempt_that_cannot_be_recorded_is_released(new_loop, where):
    # This process keeps its claims alive: what the attempt held must be let go of here.
    loop = new_loop(2)
    released = threading.Event()

    async def attempt() -> int:
        if where == "attempt":
            raise RuntimeError("the attempt wrapper failed")
        return 1

    def record(_result: int) -> None:
        raise RuntimeError("recording failed")

    assert loop.submit(attempt, record, released.set)
    assert released.wait(30)
    assert loop.drain(timeout=30) == 0


def test_close_ends_the_loop_and_record_threads():
    loop = ActivityLoop(concurrency=2)
    started = threading.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    assert loop.submit(forever, print)
    assert loop.off_loop(lambda: 7).result(30) == 7  # a record thread exists
    assert started.wait(30)
    threads = [loop._thread, *loop._records._threads]

    loop.close()

    assert not any(thread.is_alive() for thread in threads)
    assert loop.in_flight == 0
    assert loop.submit(forever, print) is False
