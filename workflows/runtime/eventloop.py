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
from . import shutdown

log = logging.getLogger("workflows.runtime")

T = TypeVar("T")

# Threads writing async attempts' outcomes and heartbeats: a write takes a few ms, an
# attempt at least one await, so a few keep up with a full loop.
RECORD_THREADS = 4
# A worker thread waiting for room looks at the shutdown this often (the loop's own
# progress wakes it at once).
WAIT_STEP = 0.1


class ActivityLoop:
    """An event loop thread running coroutines under a semaphore; results go to threads.

    Example::

        loop = ActivityLoop(concurrency=100)
        loop.submit(lambda: fetch(url), save, release)  # False: stopping, give it back
        loop.drain(timeout=30)  # wait for what runs (a worker's shutdown)
        loop.close()  # a test's loop: its threads end
    """

    def __init__(self, concurrency: int, record_threads: int = RECORD_THREADS) -> None:
        self.concurrency = concurrency
        self._loop = asyncio.new_event_loop()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._records = ThreadPoolExecutor(record_threads, thread_name_prefix="durable-record")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._in_flight = 0  # submitted and not yet recorded (or dropped)
        self._waiting = 0  # worker threads in submit() waiting for room
        self._closed = False
        self._idle = threading.Condition()
        # Set on a record thread while it records an attempt whose slot it may hand on.
        self._local = threading.local()
        self._thread = threading.Thread(target=self._run, name="durable-async-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def in_flight(self) -> int:
        """Attempts submitted and not yet recorded (running or recording)."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Worker threads waiting in :meth:`submit` for room (tests observe it)."""
        return self._waiting

    def submit(
        self,
        make: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[], None] | None = None,
    ) -> bool:
        """A worker thread's hand-over: wait until fewer than ``concurrency`` attempts are
        in flight, then run ``make()`` on the loop and ``done(result)`` on a record
        thread. Thread-safe.

        Waiting leaves further messages in the broker for other workers, and what is
        handed over starts at once (nothing waits behind the semaphore while its
        start_to_close runs). Returns False, handing nothing over, once the process is
        stopping (checked while waiting too): the caller gives the task back, which the
        shutdown's release of leases may already have done.

        ``failed()`` runs on a record thread when ``make()`` or ``done`` raises (not when
        cancelled: a shutdown releases what it cancels): whatever the attempt held must
        be released there, since this process keeps its claims alive.
        """
        with self._idle:
            while self._in_flight >= self.concurrency and not self._refusing():
                self._waiting += 1
                try:
                    self._idle.wait(WAIT_STEP)
                finally:
                    self._waiting -= 1
            return self._hand_over(make, done, failed, new_slot=True)

    def try_submit(
        self,
        make: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[], None] | None = None,
    ) -> bool:
        """:meth:`submit` without waiting: False when the loop is full (or stopping).

        A record thread going on with an episode's next task hands on the slot of the
        attempt it records, so that always fits (it never waits: it could wait for itself).
        """
        with self._idle:
            if getattr(self._local, "slot", False) and not self._refusing():
                self._local.slot = False
                return self._hand_over(make, done, failed, new_slot=False)
            if self._in_flight >= self.concurrency:
                return False
            return self._hand_over(make, done, failed, new_slot=True)

    def _refusing(self) -> bool:
        return self._closed or shutdown.stopping()

    def _hand_over(
        self,
        make: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[], None] | None,
        new_slot: bool,
    ) -> bool:
        # Under self._idle: a drain sees it in flight, or it sees the stop; and it is
        # scheduled on the loop before a later cancel_all's cancellation.
        if self._refusing():
            return False
        if new_slot:
            self._in_flight += 1
        self._loop.call_soon_threadsafe(self._start, make, done, failed)
        return True

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
        with self._idle:  # after every hand-over so far (see _hand_over)
            self._loop.call_soon_threadsafe(lambda: [task.cancel() for task in self._tasks])
        self.drain(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what runs, stop the loop and end its thread and the record threads.

        For a loop of its own (a test's); the process's loop lives as long as the process.
        """
        with self._idle:
            self._closed = True
        if self._loop.is_closed():
            return
        self.cancel_all(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._records.shutdown(wait=True)
        if not self._thread.is_alive():
            self._loop.close()

    def _start(
        self,
        make: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[], None] | None,
    ) -> None:
        task = self._loop.create_task(self._guarded(make, done, failed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(
        self,
        make: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[], None] | None,
    ) -> None:
        try:
            async with self._semaphore:
                result = await make()
        except asyncio.CancelledError:
            self._finished()  # stopping: the task stays claimed; its lease is released
            return
        except Exception:  # noqa: BLE001 - a bug of the runtime's, not of the activity
            log.exception("an async activity attempt failed outside the activity")
            self._records.submit(_with_connections, lambda: self._release(failed))
            return
        self._records.submit(_with_connections, lambda: self._record(done, failed, result))

    def _record(
        self, done: Callable[[T], None], failed: Callable[[], None] | None, result: T
    ) -> None:
        self._local.slot = True  # done() may hand it on to the episode's next task
        try:
            done(result)
        except Exception:  # noqa: BLE001 - logged; what the attempt held is released
            log.exception("could not record an async activity attempt")
            self._release(failed, finish=False)
        finally:
            if self._local.slot:
                self._local.slot = False
                self._finished()

    def _release(self, failed: Callable[[], None] | None, finish: bool = True) -> None:
        try:
            if failed is not None:
                failed()
        except Exception:  # noqa: BLE001 - failed() logs what it could not do
            log.exception("could not release an async activity attempt")
        finally:
            if finish:
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
