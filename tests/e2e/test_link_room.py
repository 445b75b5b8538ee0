"""The link's `room`, which paces announcements, on a real broker: it waits while 500 or more of the
bridge's messages wait for the broker and returns once the broker has taken enough of them; while the
broker is away it returns at once (what is said is kept for it)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.core.config import MqttSettings
from bridge.mqtt.link import ANNOUNCE_ROOM, MqttLink
from tests.harness import Broker, QuietHandler, free_port, unique_topics

pytestmark = pytest.mark.e2e


async def test_room_waits_for_the_broker_to_take_messages_and_not_while_it_is_away(broker: Broker) -> None:
    topics = unique_topics()
    away = MqttLink(MqttSettings(port=free_port(), base_topic=topics.base), topics, QuietHandler())
    for index in range(ANNOUNCE_ROOM * 2):
        away.publish(f"{topics.base}/fill/{index}", "x", retain=True)
    await asyncio.wait_for(away.room(), 1)  # no broker: nothing to wait for
    assert away.queued >= ANNOUNCE_ROOM * 2

    link = MqttLink(MqttSettings(port=broker.port, base_topic=topics.base), topics, QuietHandler())
    runner = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        for index in range(ANNOUNCE_ROOM * 4):
            link.publish(f"{topics.base}/fill/{index}", "x", retain=True)
        assert link.queued >= ANNOUNCE_ROOM * 4  # nothing is sent until this task yields
        await asyncio.wait_for(link.room(), 30)
        assert link.queued < ANNOUNCE_ROOM
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
