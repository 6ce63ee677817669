"""``ws/bulk-operations/<id>/``: tells a bulk operation's page each time its progress
changes, so the page refreshes its bar and outcomes at once (static/workflows/live.js).

Chunks commit in worker processes, whose changes an in-memory channel layer never carries
to this web process; so this consumer reads the operation's counts itself, twice a
second, while the page is open (one small primary-key query). The page's polling stays
the fallback when the socket is down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import DatabaseError

from workflows.client import DurableClient
from workflows.engine import DurableError

from . import access

POLL_SECONDS = 0.5

log = logging.getLogger("workflows.ui")


def _progress(pk: int) -> tuple[str, int] | None:
    try:
        state = DurableClient().bulk_operation(pk)
    except DurableError:
        return None
    return state.status, state.processed


class BulkProgress(AsyncJsonWebsocketConsumer):
    """Sends ``{"type": "changed", "status", "processed"}`` whenever those change; stops
    watching once the operation finished. Operators only (close code 4403)."""

    watcher: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not await database_sync_to_async(access.can_operate)(user):
            await self.close(code=4403)
            return
        self.pk = int(self.scope["url_route"]["kwargs"]["pk"])
        if await database_sync_to_async(_progress)(self.pk) is None:
            await self.close(code=4404)
            return
        await self.accept()
        self.watcher = asyncio.get_running_loop().create_task(self.watch())

    async def watch(self) -> None:
        seen: tuple[str, int] | None = None
        while True:
            try:
                now = await database_sync_to_async(_progress)(self.pk)
            except DatabaseError as exc:
                # A task that raised would end unseen, and the page hear nothing more: a
                # database error (a lost connection, a locked SQLite file) waits a round.
                log.warning("bulk operation %s: progress not read (%s); again", self.pk, exc)
                await asyncio.sleep(POLL_SECONDS)
                continue
            if now is None:
                return
            if now != seen:
                seen = now
                await self.send_json({"type": "changed", "status": now[0], "processed": now[1]})
            if now[0] != "running":
                return
            await asyncio.sleep(POLL_SECONDS)

    async def disconnect(self, code: int) -> None:
        if self.watcher is not None:
            self.watcher.cancel()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None
