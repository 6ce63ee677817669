"""workflows/runtime/leases.py: who holds a lease."""

from __future__ import annotations

import os
import socket

from workflows.runtime import leases


def test_the_holder_prefix_names_this_process_and_a_forked_child_its_own():
    assert leases.process_prefix() == f"{socket.gethostname()}:{os.getpid()}:"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own pid, not the remembered one of its parent
        os.write(write, leases.process_prefix().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 200).decode() == f"{socket.gethostname()}:{pid}:"
    os.close(read)
    os.close(write)
