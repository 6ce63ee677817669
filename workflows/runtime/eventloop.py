"""This process's event loop for ``async def`` activities, and the threads that record them.

One loop thread per process runs every async attempt, at most
DURABLE_ASYNC_ACTIVITY_CONCURRENCY at once (an ``asyncio.Semaphore``): a worker thread
claims a task, hands the coroutine here and is free again, so many I/O-bound activities
share one process. Nothing that blocks runs on the loop: each finished attempt is given
to a small pool of record threads (database writes: outcomes, heartbeats), which is also
where Django's connections of this work live. See docs/architecture.md, "Async activities".
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections

from ..conf import conf

log = logging.getLogger("workflows.runtime")

T = TypeVar("T")

# Threads writing async attempts' outcomes and heartbeats: a write takes a few ms, an
# attempt at least one await, so a few keep up with a full loop.
RECORD_THREADS = 4


class ActivityLoop:
    """An event loop thread running coroutines under a semaphore; results go to threads.

    Example::

        loop = ActivityLoop(concurrency=100)
        loop.submit(lambda: fetch(url), lambda page: save(page))  # returns at once
        loop.drain(timeout=30)  # wait for what runs (a worker's shutdown)
    """

    def __init__(self, concurrency: int, record_threads: int = RECORD_THREADS) -> None:
        self.concurrency = concurrency
        self._loop = asyncio.new_event_loop()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._records = ThreadPoolExecutor(record_threads, thread_name_prefix="durable-record")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._in_flight = 0  # submitted and not yet recorded (or dropped)
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="durable-async-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def in_flight(self) -> int:
        """Attempts submitted and not yet recorded (waiting for a slot, running, recording)."""
        return self._in_flight

    def submit(
        self, make: Callable[[], Awaitable[T]], done: Callable[[T], None], wait: bool = True
    ) -> None:
        """Run ``make()`` on the loop when a slot is free, then ``done(result)`` on a
        record thread. Thread-safe. A coroutine that raises (or is cancelled) calls
        nothing: what it held is left to its lease.

        With ``wait`` (a worker thread handing over a task it claimed), first wait until
        fewer than ``concurrency`` attempts are in flight: a full loop leaves further
        messages in the broker for other workers, and a claimed task never sits waiting
        for a slot while its start_to_close runs. A record thread going on with the next
        task of an episode passes ``wait=False`` (waiting there could wait for itself).
        """
        with self._idle:
            while wait and self._in_flight >= self.concurrency:
                self._idle.wait()
            self._in_flight += 1
        self._loop.call_soon_threadsafe(self._start, make, done)

    def off_loop(self, fn: Callable[[], T]) -> Future[T]:
        """Run blocking ``fn`` on a record thread (database writes from the loop)."""
        return self._records.submit(_with_connections, fn)

    def cancel_soon(self, future: asyncio.Future[Any]) -> None:
        """Cancel ``future`` (a task of this loop) from any thread."""
        self._loop.call_soon_threadsafe(future.cancel)

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every submitted attempt to finish and be
        recorded; returns how many are still at it."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            return self._in_flight

    def cancel_all(self, timeout: float = 5.0) -> None:
        """Cancel every running attempt (the end of a shutdown's grace: their tasks'
        leases are released by the worker) and wait for them to unwind."""
        self._loop.call_soon_threadsafe(lambda: [task.cancel() for task in self._tasks])
        self.drain(timeout)

    def _start(self, make: Callable[[], Awaitable[T]], done: Callable[[T], None]) -> None:
        task = self._loop.create_task(self._guarded(make, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, make: Callable[[], Awaitable[T]], done: Callable[[T], None]) -> None:
        try:
            async with self._semaphore:
                result = await make()
        except asyncio.CancelledError:
            self._finished()  # stopping: the task stays claimed; its lease is released
            return
        except Exception:  # noqa: BLE001 - a bug of the runtime's, not of the activity
            log.exception("an async activity attempt failed outside the activity")
            self._finished()
            return
        self._records.submit(_with_connections, lambda: self._record(done, result))

    def _record(self, done: Callable[[T], None], result: T) -> None:
        try:
            done(result)
        except Exception:  # noqa: BLE001 - logged; the task's lease decides what happens
            log.exception("could not record an async activity attempt")
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()


def _with_connections(fn: Callable[[], T]) -> T:
    # Record threads live long: drop a connection past its age or broken, as Dramatiq's
    # DbConnectionsMiddleware does for the worker threads.
    close_old_connections()
    try:
        return fn()
    finally:
        close_old_connections()


_lock = threading.Lock()
_instance: ActivityLoop | None = None


def activity_loop() -> ActivityLoop:
    """This process's loop, started on first use (a worker, ``durable serve``, a test)."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = ActivityLoop(conf.ASYNC_ACTIVITY_CONCURRENCY)
        return _instance


def running_loop() -> ActivityLoop | None:
    """The loop if this process started one (a worker's shutdown drains it)."""
    return _instance
