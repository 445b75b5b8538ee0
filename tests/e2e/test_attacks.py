"""Attacks from anyone on the broker or between the bridge and its cloud: each named, each shown to leave the
bridge running, every command answered and nothing written that nobody asked for. End to end against a real
mosquitto and the simulator over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bridge.mqtt.topics import Topics
from bridge.service.daemon import running_bridge
from bridge.simulator import SimulatorState, run_simulator
from tests.harness import Bridged, Broker, bridge_settings, observing, unique_topics
from tests.reliability import record

pytestmark = pytest.mark.e2e

FIRST = "4512345600"
CHARGE = "battery/charge_current"
DEEP = "[" * 100_000


class Rig(Bridged):
    async def charge(self, payload: str) -> dict[str, Any]:
        return await self.command(FIRST, CHARGE, payload)

    async def refresh(self, payload: str, *, retain: bool = False) -> dict[str, Any]:
        before = len(self.observer.on(self.topics.refresh_response))
        await self.observer.publish(self.topics.refresh_request, payload, retain=retain)
        seen = await self.observer.wait_count(self.topics.refresh_response, before + 1, within=30)
        answer: dict[str, Any] = seen[before].json()
        return answer

    async def faults(self, body: dict[str, Any]) -> None:
        url = f"{self.simulator.base_url}/_sim/faults"
        async with aiohttp.ClientSession() as http, http.post(url, json=body) as answer:
            assert answer.status == 200, await answer.text()


@asynccontextmanager
async def rigged(broker: Broker, topics: Topics | None = None) -> AsyncIterator[Rig]:
    topics = topics or unique_topics()
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        async with observing(broker.port, f"{topics.base}/#") as observer:
            settings = bridge_settings(simulator, broker.port, topics, runtime_seconds=1)
            async with running_bridge(settings) as bridge:
                await observer.wait_for_topic(topics.availability(FIRST), "online")
                yield Rig(simulator, topics, observer, bridge)


async def test_a_refresh_request_nested_100000_deep_is_answered_and_the_bridge_goes_on(
    broker: Broker,
) -> None:
    async with rigged(broker) as rig:
        answer = await rig.refresh(DEEP)
        assert answer["status"] == "ok"
        assert "transaction" not in answer
        assert (await rig.charge("70"))["ok"] is True
        assert not rig.bridge.task.done()
    record(
        "fault",
        "a refresh request of `[` repeated 100,000 times",
        1,
        "answered without a transaction; the bridge went on and took the next command",
    )


async def test_a_retained_deep_refresh_request_does_not_stop_any_start(broker: Broker) -> None:
    topics = unique_topics()
    async with observing(broker.port) as attacker:
        await attacker.publish(topics.refresh_request, DEEP, retain=True)
    try:
        for _start in range(2):
            async with rigged(broker, topics) as rig:
                assert (await rig.charge("71"))["ok"] is True
    finally:
        async with observing(broker.port) as cleaner:
            await cleaner.publish(topics.refresh_request, "", retain=True)


async def test_a_write_answered_with_json_nested_100000_deep_gets_its_result(broker: Broker) -> None:
    async with rigged(broker) as rig:
        await rig.faults({"fail_next": {"deep_json": 1}, "endpoint": "remoteSet/write"})
        result = await rig.charge("72")
        assert rig.simulator.state.faults.queued == [], "the deep answer was read"
        assert result["outcome"] == "unknown", result
        assert "nested more than 32 levels deep" in result["error"]
        assert (await rig.charge("73"))["ok"] is True
        assert not rig.bridge.task.done()


async def test_a_storm_of_refresh_requests_joins_one_refresh_and_each_is_answered(broker: Broker) -> None:
    async with rigged(broker) as rig:
        runtime = "/WManage/api/inverter/getInverterRuntime"
        before = rig.simulator.state.requests[runtime]
        count = 300
        already = len(rig.observer.on(rig.topics.refresh_response))
        for number in range(count):
            await rig.observer.publish(rig.topics.refresh_request, f'{{"transaction": {number}}}')
        seen = await rig.observer.wait_count(rig.topics.refresh_response, already + count, within=60)
        answers = [message.json() for message in seen[already:]]
        assert sorted(answer["transaction"] for answer in answers) == list(range(count))
        assert {answer["status"] for answer in answers} == {"ok"}
        asked = rig.simulator.state.requests[runtime] - before
        assert asked <= 20, f"{count} requests made {asked} runtime reads"
