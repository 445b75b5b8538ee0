"""Saying everything again (after Home Assistant's birth or a broker reconnection) runs at the link's pace,
in a task of its own; a newer one replaces one still under way, rather than both going on. The coordinator
reads a simulated cloud over real HTTP; what it publishes, and the link's room, are fakes at its own seam."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from bridge.mqtt.topics import Topics
from bridge.service.coordinator import Coordinator
from bridge.simulator import SimulatorState, run_simulator
from bridge.transports.cloud import CloudClient
from tests.harness import bridge_settings, unique_topics
from tests.unit.fakes import Recorder

pytestmark = pytest.mark.e2e


class Gate:
    """A link's `room`: open, it returns at once; closed, every announcement waits at it until opened."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.waiting = 0

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    async def room(self) -> None:
        self.waiting += 1
        try:
            await self._open.wait()
        finally:
            self.waiting -= 1


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"waited 5 s for {what}")


async def quiet(recorder: Recorder) -> None:
    """Until nothing has been published for 0.3 s (10 s at most)."""
    seen = -1
    for _ in range(33):
        if seen == len(recorder.published):
            return
        seen = len(recorder.published)
        await asyncio.sleep(0.3)
    raise AssertionError("still publishing after 10 s")


def configs_by_device(recorder: Recorder, topics: Topics) -> Counter[str]:
    prefix = f"{topics.discovery_prefix}/device/"
    return Counter(
        topic.removeprefix(prefix).removesuffix("/config")
        for topic, _payload in recorder.published
        if topic.startswith(prefix) and topic.endswith("/config")
    )


def availability_said(recorder: Recorder, topics: Topics, serials: list[str]) -> Counter[str]:
    """How often each inverter's availability was said: once by every full announcement, and otherwise
    only when it changes."""
    said = Counter(topic for topic, _payload in recorder.published)
    return Counter({serial: said[topics.availability(serial)] for serial in serials})


async def test_a_broker_that_reconnects_during_the_first_announcement_is_told_everything_again() -> None:
    """The first announcement goes out at the link's pace; a broker that reconnected meanwhile may have
    lost what it took, so once ready everything is said again."""
    async with run_simulator(SimulatorState(inverter_count=3)) as simulator:
        topics = unique_topics()
        settings = bridge_settings(simulator, 1, topics)
        serials = list(simulator.state.inverters)
        async with CloudClient(simulator.base_url, "demo", "demo", request_timeout=5) as cloud:
            coordinator = Coordinator(cloud, topics, settings)
            recorder, gate = Recorder(), Gate()
            coordinator.attach(recorder, gate.room)
            await coordinator.on_connect()  # the link's first connection
            gate.close()
            running = asyncio.create_task(coordinator.run())
            try:
                await until(lambda: gate.waiting == 1, "the first announcement to wait for room")
                assert not coordinator.ready.is_set()
                await coordinator.on_connect()  # the broker came back meanwhile
                gate.open()
                await asyncio.wait_for(coordinator.ready.wait(), 10)
                await until(
                    lambda: (
                        availability_said(recorder, topics, serials) == Counter(dict.fromkeys(serials, 2))
                    ),
                    "everything said a second time",
                )
                await quiet(recorder)
                assert availability_said(recorder, topics, serials) == Counter(dict.fromkeys(serials, 2))
            finally:
                running.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await running


async def test_a_newer_announcement_replaces_one_still_under_way() -> None:
    async with run_simulator(SimulatorState(inverter_count=4)) as simulator:
        topics = unique_topics()
        settings = bridge_settings(simulator, 1, topics)
        async with CloudClient(simulator.base_url, "demo", "demo", request_timeout=5) as cloud:
            coordinator = Coordinator(cloud, topics, settings)
            recorder, gate = Recorder(), Gate()
            coordinator.attach(recorder, gate.room)
            running = asyncio.create_task(coordinator.run())
            try:
                await asyncio.wait_for(coordinator.ready.wait(), 10)
                devices = sorted(configs_by_device(recorder, topics))
                assert len(devices) == 4
                await quiet(recorder)  # the first event reads may say discovery again: let them
                gate.close()
                recorder.published.clear()
                await coordinator.on_message(topics.birth, b"online", retained=False)
                await until(lambda: gate.waiting == 1, "the first re-announcement to wait for room")
                assert configs_by_device(recorder, topics) == Counter(devices[:1])
                await coordinator.on_message(topics.birth, b"online", retained=False)
                await until(lambda: configs_by_device(recorder, topics)[devices[0]] == 2, "the second")
                await until(lambda: gate.waiting == 1, "the first to be gone, the second to wait")
                gate.open()
                await until(lambda: len(configs_by_device(recorder, topics)) == 4, "the second to finish")
                await asyncio.sleep(0.2)  # a first one left running would say its remaining configs now
                assert configs_by_device(recorder, topics) == Counter(
                    {devices[0]: 2, **dict.fromkeys(devices[1:], 1)}
                )
            finally:
                running.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await running


async def test_a_birth_that_arrives_as_the_bridge_stops_is_skipped_not_a_crash() -> None:
    """Home Assistant's birth (or a reconnection) can arrive after the coordinator's tasks ended: nothing is
    left to announce to, and the message must not raise out of the link's handler."""
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        topics = unique_topics()
        settings = bridge_settings(simulator, 1, topics)
        async with CloudClient(simulator.base_url, "demo", "demo", request_timeout=5) as cloud:
            coordinator = Coordinator(cloud, topics, settings)
            recorder = Recorder()
            coordinator.attach(recorder)
            running = asyncio.create_task(coordinator.run())
            await asyncio.wait_for(coordinator.ready.wait(), 10)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            published = len(recorder.published)
            with capture_logs() as logs:
                await coordinator.on_message(topics.birth, b"online", retained=False)
                await coordinator.on_connect()
                await coordinator.on_connect()
    assert [log["event"] for log in logs if log["event"].startswith("announcement")] == [
        "announcement_skipped_bridge_stopping"
    ] * 2
    assert len(recorder.published) == published
