"""workflows/cli/worker.py: `durable worker` stops on SIGTERM, whichever thread gets it."""

from __future__ import annotations

import ctypes
import os
import platform
import signal

import pytest

from tests.support.workers import DurableWorkerCommand

# tgkill(2) sends a signal to one thread of a process: what the kernel may do with a
# process's SIGTERM when another thread than the main one can take it.
_TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())


def _tgkill(pid: int, tid: int, sig: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(_TGKILL, pid, tid, sig) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}, {sig})")


@pytest.mark.integration
@pytest.mark.skipif(_TGKILL is None, reason="tgkill's number is known for x86_64 and aarch64")
def test_a_sigterm_taken_by_another_thread_than_the_main_one_stops_the_worker(
    transactional_db,
):
    command = DurableWorkerCommand()
    try:
        command.wait_for_output("worker running")
        pid = command.proc.pid
        others = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
        assert others, "the worker runs threads besides its main one"
        _tgkill(pid, others[0], signal.SIGTERM)
        code = command.wait(timeout=30)
    finally:
        if command.proc.poll() is None:
            command.proc.kill()
            command.proc.wait(10)
    assert code == 0
    assert "worker stopping" in command.output and "worker stopped" in command.output
