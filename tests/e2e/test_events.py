"""The cloud's event log as a Last Event sensor, end to end over a real mosquitto and the simulator's HTTP
cloud: an event raised in the log is said in words with its details, its end is said when it ends, and an
account refused the log gets no sensor rather than one stuck unknown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bridge.service.daemon import running_bridge
from bridge.simulator import SimulatorState, run_simulator
from tests.harness import Bridged, Broker, Seen, bridge_settings, observing, unique_topics

pytestmark = pytest.mark.e2e

FIRST, SECOND = "4512345600", "4512345601"
EVENTS = "/WManage/api/analyze/event/list"


class Rig(Bridged):
    broker_port: int = 0

    def event_state(self, serial: str) -> str:
        return self.topics.state(serial, "inverter/last_event")

    def event_attributes(self, serial: str) -> str:
        return self.topics.last_event_attributes(serial)

    async def control(self, body: dict[str, Any]) -> dict[str, Any]:
        """Steer the simulator as another process would: over its `/_sim/events` endpoint."""
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{self.simulator.base_url}/_sim/events", json=body) as response:
                assert response.status == 200, await response.text()
                answer: dict[str, Any] = await response.json()
                return answer

    async def said(self, topic: str, payload: str | None = None) -> Seen:
        """The newest message on `topic` once it says `payload` (any, when `None`)."""
        await self.observer.wait_for(
            lambda seen: seen.topic == topic and (payload is None or seen.payload == payload), within=20
        )
        return self.observer.on(topic)[-1]

    async def attributes_once(self, serial: str, **wanted: object) -> dict[str, Any]:
        """The event's attributes once they hold `wanted`."""
        seen = await self.observer.wait_for(
            lambda seen: (
                seen.topic == self.event_attributes(serial)
                and bool(seen.payload)
                and all(seen.json().get(key) == value for key, value in wanted.items())
            ),
            within=20,
        )
        found: dict[str, Any] = seen.json()
        return found

    async def retained(self, *topics: str) -> dict[str, str]:
        """What a subscriber that comes now is given of `topics`: their retained messages."""
        async with observing(self.broker_port, *topics) as fresh:
            await asyncio.sleep(0.5)
            return {seen.topic: seen.payload for seen in fresh.messages if seen.retain}

    async def components(self, serial: str, *, with_event: bool) -> dict[str, Any]:
        """The inverter's device config once it does (or does not) hold the Last Event sensor."""
        topic = self.topics.device_discovery(serial)
        seen = await self.observer.wait_for(
            lambda seen: seen.topic == topic and ("last_event" in seen.json()["cmps"]) == with_event,
            within=20,
        )
        components: dict[str, Any] = seen.json()["cmps"]
        return components


@asynccontextmanager
async def bridged(broker: Broker, state: SimulatorState, **settings: Any) -> AsyncIterator[Rig]:
    async with run_simulator(state) as simulator:
        topics = unique_topics()
        config = bridge_settings(simulator, broker.port, topics, events_seconds=1, **settings)
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(config) as bridge:
                rig = Rig(simulator, topics, observer, bridge)
                rig.broker_port = broker.port
                yield rig


async def test_an_event_raised_is_said_in_words_and_its_end_is_said_too(broker: Broker) -> None:
    async with bridged(broker, SimulatorState(inverter_count=2)) as rig:
        # An empty log: `none`, no attributes, and the sensor announced (its log answered).
        await rig.said(rig.event_state(FIRST), "none")
        await rig.said(rig.event_attributes(FIRST), "{}")
        component = (await rig.components(FIRST, with_event=True))["last_event"]
        assert component["state_topic"] == rig.event_state(FIRST)
        assert component["json_attributes_topic"] == rig.event_attributes(FIRST)
        assert (component["platform"], component["name"]) == ("sensor", "Last Event")

        raised = await rig.control({"serial": FIRST, "raise": {"code": "E019", "text": "Bus voltage high"}})
        attributes = await rig.attributes_once(FIRST, code="E019")
        assert attributes == {
            "code": "E019",
            "text": "Bus voltage high",
            "type": "FAULT",
            "start": attributes["start"],
            "end": None,
            "ongoing": True,
            "duration_hours": None,
            "status": "OPEN",
            "record_id": raised["recordId"],
        }
        assert len(attributes["start"]) == len("2026-07-01 16:50:28")
        await rig.said(rig.event_state(FIRST), "E019 Bus voltage high")
        assert rig.observer.on(rig.event_state(SECOND))[-1].payload == "none", "the other inverter's log"

        await rig.control({"serial": FIRST, "close": "E019"})
        ended = await rig.attributes_once(FIRST, ongoing=False)
        assert (ended["code"], ended["status"], ended["start"]) == ("E019", "CLOSE", attributes["start"])
        assert ended["end"] is not None
        assert ended["end"] >= ended["start"]
        assert ended["duration_hours"] == 0.0
        assert rig.observer.on(rig.event_state(FIRST))[-1].payload == "E019 Bus voltage high"
        retained = await rig.retained(rig.event_state(FIRST), rig.event_attributes(FIRST))
        assert retained[rig.event_state(FIRST)] == "E019 Bus voltage high"
        assert json.loads(retained[rig.event_attributes(FIRST)]) == ended

        # A newer warning is the last event now, whatever the older one did.
        await rig.control(
            {"serial": FIRST, "raise": {"code": "W018", "text": "Grid frequency", "type": "WARNING"}}
        )
        await rig.said(rig.event_state(FIRST), "W018 Grid frequency")
        assert (await rig.attributes_once(FIRST, code="W018"))["type"] == "WARNING"


async def test_an_account_refused_the_log_gets_no_sensor_and_the_bridge_runs_on(broker: Broker) -> None:
    """Refused from the start: never announced, nothing said; runtime keeps flowing. When the log answers
    later, the sensor appears; refused again, it goes, and its retained states are emptied."""
    state = SimulatorState(inverter_count=1)
    state.faults.events_refusal = "permissionDenied"
    async with bridged(broker, state) as rig:
        await rig.observer.wait_for_topic(rig.topics.availability(FIRST), "online")
        await asyncio.sleep(2.5)  # the log is asked every second
        assert state.requests[EVENTS] >= 2, "asked again after a refusal"
        assert "last_event" not in (await rig.components(FIRST, with_event=False))
        assert rig.observer.on(rig.event_state(FIRST)) == []
        await rig.observer.publish(rig.topics.refresh_request, "{}")  # the bridge runs on, and answers
        assert (await rig.observer.wait_for_topic(rig.topics.refresh_response)).json()["status"] == "ok"

        state.faults.events_refusal = None
        await rig.components(FIRST, with_event=True)
        await rig.said(rig.event_state(FIRST), "none")

        state.faults.events_refusal = "permissionDenied"
        await rig.components(FIRST, with_event=False)
        await rig.said(rig.event_state(FIRST), "")
        await rig.said(rig.event_attributes(FIRST), "")
        assert await rig.retained(rig.event_state(FIRST), rig.event_attributes(FIRST)) == {}, "emptied"
