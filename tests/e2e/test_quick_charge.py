"""Quick charge (issue 21), end to end: a simulated EG4 hybrid, FlexBOSS, off-grid 12000XP and Luxpower
inverter, through the cloud's quickCharge endpoints and through their dongles (register 233 bit 0), over a
real mosquitto. ON starts it and is confirmed by reading its state back, OFF stops it; the off-grid family is
refused it by model name; a payload that is not ON or OFF is refused before anything is sent."""

from __future__ import annotations

import asyncio

import pytest

from bridge.core.catalogue import QUICK_CHARGE_RUNNING
from bridge.simulator import RunningSimulator
from bridge.simulator.dongle import SimulatedDongles
from bridge.transports.cloud import CloudClient
from bridge.transports.cloud.client import RUNTIME_SAYS_FOR
from tests.e2e.test_more_settings import FLEXBOSS, HYBRID, LUXPOWER, OFF_GRID, four_families
from tests.harness import Broker
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.e2e

PATH = "battery/quick_charge"


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "dongle"])
async def test_quick_charge_on_starts_it_and_off_stops_it_both_read_back(broker: Broker, local: bool) -> None:
    via = "dongle" if local else "cloud"
    async with four_families(broker, local=local) as rig:
        await rig.observer.wait_for_topic(rig.topics.state(HYBRID, PATH), "OFF")
        before = rig.holding(HYBRID)[233]
        started = await rig.written(HYBRID, PATH, "ON", via)
        assert (started["ok"], started["value"], started["applied"]) == (True, True, True)
        await rig.observer.wait_for_topic(rig.topics.state(HYBRID, PATH), "ON")
        running = rig.simulator.state.inverters[HYBRID].quick_charge_task
        during = rig.holding(HYBRID)[233]
        assert (await rig.written(LUXPOWER, PATH, "ON", via))["value"] is True
        stopped = await rig.written(HYBRID, PATH, "OFF", via)
        assert (stopped["value"], stopped["applied"]) == (False, True)
        await rig.observer.wait_for_topic(rig.topics.state(HYBRID, PATH), "OFF")
        after = rig.holding(HYBRID)[233]
        assert PATH.replace("/", "_") in rig.announced(FLEXBOSS)
    state = rig.simulator.state
    assert running is not None
    assert state.inverters[HYBRID].quick_charge_task is None
    assert state.inverters[LUXPOWER].quick_charge_task is not None
    # Bit 0 of register 233, its neighbours (battery backup in bit 1, ...) kept.
    assert (before & 1, during, after) == (0, before | 1, before)
    assert set(state.write_transports) == {via}
    if not local:
        # No functionControl and no parameter write: the cloud's own endpoints, each once per command.
        assert state.requests["/WManage/web/config/quickCharge/start"] == 2
        assert state.requests["/WManage/web/config/quickCharge/stop"] == 1
        assert state.requests["/WManage/web/maintain/remoteSet/functionControl"] == 0


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "dongle"])
async def test_quick_charge_is_refused_on_the_off_grid_family_and_to_a_bad_payload(
    broker: Broker, local: bool
) -> None:
    async with four_families(broker, local=local) as rig:
        refused = await rig.command(OFF_GRID, PATH, "ON")
        assert refused["outcome"] == "refused"
        assert refused["error"].startswith(
            "Quick Charge is not offered on 12000XP (EG4 off-grid (12000XP, 6000XP, SNA)): the 12000XP's "
            "firmware refuses register 233"
        ), refused["error"]
        bad = await rig.command(HYBRID, PATH, "start")
        assert (bad["outcome"], bad["applied"], bad["attempts"]) == ("refused", False, 0)
        assert bad["error"] == "Quick Charge takes ON or OFF (or true/false, 1/0), got 'start'"
        assert "battery_quick_charge" in rig.announced(HYBRID) - rig.announced(OFF_GRID)
    state = rig.simulator.state
    assert state.writes == []
    assert all(inverter.quick_charge_task is None for inverter in state.inverters.values())
    # The simulated 12000XP refuses register 233 through its dongle, as eg4_web_monitor issue 296 reports.
    assert SimulatedDongles(state).apply(state.inverters[OFF_GRID], {233: 1}) == 2


async def test_a_settings_read_takes_quick_charges_state_from_the_newest_runtime_answer_not_an_older_one(
    simulator: RunningSimulator, cloud: CloudClient
) -> None:
    """The runtime answer carries the status's flag: once the status has answered, settings reads take it
    from there (one request less per inverter), but never from a runtime answer older than a start."""
    status = "/WManage/web/config/quickCharge/getStatusInfo"
    requests = simulator.state.requests
    serial = "4512345600"
    first = await cloud.read_parameters(serial)
    assert (first.values[QUICK_CHARGE_RUNNING], requests[status]) == (False, 1)
    await cloud.get_runtime(serial)
    again = await cloud.read_parameters(serial)
    assert (again.values[QUICK_CHARGE_RUNNING], requests[status]) == (False, 1)  # from the runtime answer
    await cloud.action(serial, "quickCharge", start=True)
    started = await cloud.read_parameters(serial)  # the runtime answer predates the start: asked again
    assert (started.values[QUICK_CHARGE_RUNNING], requests[status]) == (True, 2)
    await cloud.get_runtime(serial)
    running = await cloud.read_parameters(serial)
    assert (running.values[QUICK_CHARGE_RUNNING], requests[status]) == (True, 2)


async def test_a_runtime_answer_asked_for_before_a_start_is_not_taken_for_quick_charges_state(
    simulator: RunningSimulator, cloud: CloudClient
) -> None:
    """A runtime answer on its way while a start is sent says what held before the start: the next settings
    read asks the status instead."""
    status = "/WManage/web/config/quickCharge/getStatusInfo"
    serial = "4512345600"
    await cloud.read_parameters(serial)  # the status answered once: the runtime may stand in for it
    simulator.state.faults.latency_ms = 200
    runtime = asyncio.create_task(cloud.get_runtime(serial))  # answered before the start lands
    await asyncio.sleep(0.05)
    await cloud.action(serial, "quickCharge", start=True)
    await runtime
    simulator.state.faults.latency_ms = 0
    asked_before = simulator.state.requests[status]
    after = await cloud.read_parameters(serial)
    assert after.values[QUICK_CHARGE_RUNNING] is True
    assert simulator.state.requests[status] == asked_before + 1


async def test_a_settings_read_without_actions_asks_no_status(
    simulator: RunningSimulator, cloud: CloudClient
) -> None:
    """`hybrid` fills only what has no register from the cloud's read: quick charge's state comes from the
    dongle's register 233, so that read asks no status and carries none."""
    status = "/WManage/web/config/quickCharge/getStatusInfo"
    read = await cloud.read_parameters("4512345600", actions=False)
    assert QUICK_CHARGE_RUNNING not in read.values
    assert (simulator.state.requests[status], read.complete) == (0, True)


async def test_a_runtime_answer_older_than_five_minutes_no_longer_stands_in_for_the_status(
    simulator: RunningSimulator,
) -> None:
    """While runtime reads fail, the last runtime answer grows old: after 300 s the status is asked again."""
    clock = FakeClock()
    status = "/WManage/web/config/quickCharge/getStatusInfo"
    serial = "4512345600"
    async with CloudClient(simulator.base_url, "demo", "demo", request_timeout=5, clock=clock) as cloud:
        await cloud.read_parameters(serial)
        await cloud.get_runtime(serial)
        await clock.advance(RUNTIME_SAYS_FOR)
        await cloud.read_parameters(serial)
        assert simulator.state.requests[status] == 1, "five minutes old: still taken"
        await clock.advance(1)
        await cloud.read_parameters(serial)
        assert simulator.state.requests[status] == 2, "older: the status is asked again"
