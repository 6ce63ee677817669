"""Live updates: ``instance_changed`` -> channel layer groups -> websockets (consumers.py).

Imported by ``WorkflowsConfig.ready()`` so every process that commits state changes
(web and workers) pushes them. With Redis (``CHANNEL_LAYER_URL``) every web process
hears every change; with the in-memory layer only consumers in the committing process
do, and pages fall back to polling (docs/architecture.md, "Live updates").

The receiver never blocks the committing thread and never raises into it: sends are
scheduled on an event loop and failures are logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.dispatch import receiver

from workflows.conf import conf
from workflows.signals import instance_changed

log = logging.getLogger("workflows.ui.live")

MESSAGE_TYPE = "instance.changed"  # handled by consumers.InstanceUpdates.instance_changed


def group_all() -> str:
    """Every change of this task hub (console and approvals pages listen here)."""
    return f"durable.{conf.TASK_HUB}.all"


def group_for(instance_id: str) -> str:
    """Changes of one instance. Ids may hold ``:`` and ``@``, which group names may not."""
    digest = hashlib.sha1(instance_id.encode(), usedforsecurity=False).hexdigest()[:32]
    return f"durable.{conf.TASK_HUB}.i.{digest}"


def poll_seconds() -> int:
    """How often pages poll besides listening: rarely when a shared layer pushes everything."""
    return 15 if settings.CHANNEL_LAYER_URL else 5


# -- the loop that sends ----------------------------------------------------------------
# The in-memory layer keeps asyncio queues that belong to the consumers' loop, so sends
# must run on that loop; consumers register it when they connect. Other layers (Redis)
# get one background loop per process, so their connections are reused.
_consumer_loop: asyncio.AbstractEventLoop | None = None
_own_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def remember_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    global _consumer_loop
    _consumer_loop = loop


def _background_loop() -> asyncio.AbstractEventLoop:
    global _own_loop
    with _lock:
        if _own_loop is None or _own_loop.is_closed():
            _own_loop = asyncio.new_event_loop()
            threading.Thread(target=_own_loop.run_forever, name="durable-live", daemon=True).start()
        return _own_loop


def _loop_for(layer: Any) -> asyncio.AbstractEventLoop | None:
    if isinstance(layer, InMemoryChannelLayer):
        loop = _consumer_loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return None  # no socket listens in this process
        return loop
    return _background_loop()


async def _send(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    for group in groups:
        await layer.group_send(group, message)


def _report(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("live update not pushed: %s", future.exception())


@receiver(instance_changed, dispatch_uid="workflows.ui.live.push")
def push(sender: Any, instance_id: str, status: str, **kwargs: Any) -> None:
    """Tell listening sockets that an instance changed (id and status, never payloads)."""
    try:
        layer = get_channel_layer()
        loop = _loop_for(layer) if layer is not None else None
        if loop is None:
            return
        message = {"type": MESSAGE_TYPE, "instance_id": instance_id, "status": status}
        coro = _send(layer, [group_for(instance_id), group_all()], message)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(coro).add_done_callback(_report)
        else:
            asyncio.run_coroutine_threadsafe(coro, loop).add_done_callback(_report)
    except Exception as exc:  # noqa: BLE001 - a page refresh is never worth a failed commit
        log.warning("live update not pushed: %s", exc)
