"""This process is shutting down: threads finish what they run and take nothing new.

Set by the worker on SIGTERM (workflows/runtime/worker.py). A thread that would go on to
another task by itself (the next task of a batch, the activity an episode claimed for
it) gives that task back instead, so another worker runs it at once. See
docs/architecture.md, "Claims, leases and batches".
"""

from __future__ import annotations

import threading

_stopping = threading.Event()


def begin() -> None:
    """Stop taking work in this process (threads check :func:`stopping`)."""
    _stopping.set()


def stopping() -> bool:
    return _stopping.is_set()


def reset() -> None:
    """A new worker starts in this process (tests start and stop several)."""
    _stopping.clear()
