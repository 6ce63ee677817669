"""Live updates: instance_changed reaches subscribed websockets through the channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from workflows.models import Instance
from workflows.routing import websocket_urlpatterns
from workflows.signals import instance_changed


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def _socket(path: str, user=None) -> WebsocketCommunicator:
    from django.contrib.auth.models import AnonymousUser

    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    communicator.scope["user"] = user or AnonymousUser()
    return communicator


def _changed(instance_id: str, status: str = "running") -> None:
    instance_changed.send(sender=Instance, instance_pk=1, instance_id=instance_id, status=status)


@pytest.mark.django_db
def test_a_signal_reaches_a_socket_subscribed_to_all_changes(viewer):
    async def scenario():
        socket = _socket("/ws/instances/", viewer.user)
        connected, _ = await socket.connect()
        assert connected
        await sync_to_async(_changed)("order:17@shop", "completed")  # from a thread, like workers
        message = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {
        "type": "changed",
        "instance_id": "order:17@shop",
        "status": "completed",
    }


@pytest.mark.django_db
def test_approvers_hear_that_something_changed_but_not_what(approver):
    async def scenario():
        socket = _socket("/ws/instances/", approver.user)
        assert (await socket.connect())[0]
        await sync_to_async(_changed)("order-1")
        message = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "changed"}


@pytest.mark.django_db
def test_an_instance_socket_hears_only_its_instance(viewer):
    async def scenario():
        socket = _socket("/ws/instances/order-1/", viewer.user)
        assert (await socket.connect())[0]
        await sync_to_async(_changed)("order-2")
        await sync_to_async(_changed)("order-1", "suspended")
        # One channel delivers in order: order-2's change, had it been sent here, came first.
        message = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {
        "type": "changed",
        "instance_id": "order-1",
        "status": "suspended",
    }


@pytest.mark.django_db
def test_sockets_need_a_signed_in_user_allowed_to_see_the_instance(outsider):
    async def scenario():
        anonymous = await _socket("/ws/instances/").connect()
        foreign = await _socket("/ws/instances/order-1/", outsider.user).connect()
        return anonymous, foreign

    anonymous, foreign = async_to_sync(scenario)()
    assert anonymous == (False, 4401)
    assert foreign == (False, 4403)


@pytest.mark.django_db(transaction=True)
def test_an_operator_action_is_pushed_after_commit(make_user, running):
    from workflows.client import DurableClient

    viewer = make_user("victor", ("view_instance",))
    running("order-1")

    async def scenario():
        socket = _socket("/ws/instances/order-1/", viewer)
        assert (await socket.connect())[0]
        await sync_to_async(DurableClient().suspend)("order-1", "checking", by=viewer)
        message = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {
        "type": "changed",
        "instance_id": "order-1",
        "status": "suspended",
    }


def test_no_listener_in_this_process_means_nothing_is_sent():
    """The in-memory layer with no socket connected in this process: the change is not
    pushed (no loop to send on), and the committing thread is not disturbed."""
    from channels.layers import get_channel_layer

    from workflows.ui import live

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live.group_for("order-1"), channel)
    live.remember_loop(None)
    responses = instance_changed.send_robust(
        sender=Instance, instance_pk=1, instance_id="order-1", status="running"
    )
    assert [error for _receiver, error in responses if isinstance(error, Exception)] == []
    assert live._loop_for(layer) is None  # push() decides: no loop, nothing to send on
    # Nor sent any other way: the subscribed channel's queue holds nothing.
    assert layer.channels.get(channel) is None or layer.channels[channel].empty()


def test_group_names_are_valid_for_any_instance_id():
    from channels.layers import BaseChannelLayer

    from workflows.ui import live

    layer = BaseChannelLayer()
    for instance_id in ("order:17@shop", "a" * 200, "x.y-z_1"):
        assert layer.require_valid_group_name(live.group_for(instance_id))
    assert live.group_for("a") != live.group_for("b")


@pytest.mark.django_db
def test_with_redis_a_change_in_another_thread_reaches_the_socket(viewer, settings):
    """The production shape: workers push through Redis from their own event loop."""
    from django.conf import settings as live_settings

    url = live_settings.CHANNEL_LAYER_URL
    if not url.startswith("redis"):
        pytest.skip("set CHANNEL_LAYER_URL=redis://... to run against Redis")
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }

    async def scenario():
        socket = _socket("/ws/instances/order-7/", viewer.user)
        assert (await socket.connect())[0]
        await sync_to_async(_changed, thread_sensitive=False)("order-7", "completed")
        message = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)()["status"] == "completed"
