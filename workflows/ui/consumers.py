"""Websocket consumers: a page listens, the server says "changed", the page refreshes."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import access, live


class InstanceUpdates(AsyncJsonWebsocketConsumer):
    """``ws/instances/`` (every change) or ``ws/instances/<id>/`` (one instance).

    Sends ``{"type": "changed"}``; console viewers also get ``instance_id`` and ``status``.
    Clients only listen: anything they send is ignored.
    """

    groups_joined: list[str]
    detailed = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        instance_id = self.scope["url_route"]["kwargs"].get("instance_id")
        if instance_id is not None:
            allowed = await database_sync_to_async(access.can_view_instance)(user, instance_id)
            if not allowed:
                await self.close(code=4403)
                return
            self.groups_joined = [live.group_for(instance_id)]
        else:
            self.groups_joined = [live.group_all()]
        self.detailed = await database_sync_to_async(access.can_view_console)(user)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        live.remember_loop(asyncio.get_running_loop())
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None

    async def instance_changed(self, event: dict[str, Any]) -> None:
        message: dict[str, Any] = {"type": "changed"}
        if self.detailed:
            message.update(instance_id=event["instance_id"], status=event["status"])
        await self.send_json(message)
