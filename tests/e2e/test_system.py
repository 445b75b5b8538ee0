"""The whole system, end to end over a real mosquitto: each battery module behind an inverter is a device of
its own under it, updated with every settings refresh, and a module taken out leaves nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bridge.core.catalogue import BATTERY_SENSORS
from bridge.service.daemon import running_bridge
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from tests.harness import Bridged, Broker, bridge_settings, observing, unique_topics

pytestmark = pytest.mark.e2e

FIRST, SECOND = "4512345600", "4512345601"


class Rig(Bridged):
    def module_config_topic(self, serial: str, module_id: str) -> str:
        return f"{self.topics.discovery_prefix}/device/eg4_{serial}_battery_{module_id}/config"

    def module_state(self, serial: str, module_id: str, path: str) -> str:
        return self.topics.state(serial, f"battery_module/{module_id}/{path}")

    async def refresh(self) -> dict[str, Any]:
        """Read everything again now, and wait for the bridge to say it is done."""
        before = len(self.observer.on(self.topics.refresh_response))
        await self.observer.publish(self.topics.refresh_request, "{}")
        seen = await self.observer.wait_count(self.topics.refresh_response, before + 1)
        answer: dict[str, Any] = seen[before].json()
        return answer


@asynccontextmanager
async def with_batteries(broker: Broker, modules: int, *, through_dongle: bool = False) -> AsyncIterator[Rig]:
    """With `through_dongle`, the first inverter is reached through its dongle alone (`transport: local`)."""
    state = SimulatorState(inverter_count=2, batteries=modules)
    async with run_simulator(state, dongle_port=0 if through_dongle else None) as simulator:
        topics = unique_topics()
        inverters = (
            {FIRST: {"transport": "local", "dongle": dongle_of(simulator, FIRST)}} if through_dongle else None
        )
        settings = bridge_settings(
            simulator, broker.port, topics, inverters=inverters, refresh_request_gap_seconds=0
        )
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings) as bridge:
                yield Rig(simulator, topics, observer, bridge)


def dongle_of(simulator: RunningSimulator, serial: str) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": simulator.dongle_port,
        "serial": simulator.state.dongle_serial(serial),
    }


async def test_each_battery_module_is_a_device_under_its_inverter(broker: Broker) -> None:
    async with with_batteries(broker, 2) as rig:
        module_ids = [battery.serial for battery in rig.simulator.state.inverters[FIRST].batteries]
        assert module_ids == ["5600BAT0000", "5600BAT0001"]
        config = (await rig.observer.wait_for_topic(rig.module_config_topic(FIRST, module_ids[1]))).json()
        assert config["device"]["via_device"] == f"eg4_{FIRST}"
        assert config["device"]["serial_number"] == "5600BAT0001"
        assert set(config["cmps"]) == {sensor.key for sensor in BATTERY_SENSORS}
        soc = config["cmps"]["module_soc"]
        assert soc["state_topic"] == rig.module_state(FIRST, module_ids[1], "soc")
        assert soc["unique_id"] == f"eg4_{FIRST}_battery_5600BAT0001_soc"
        assert [entry["topic"] for entry in config["availability"]][-1] == rig.module_state(
            FIRST, module_ids[1], "availability"
        )
        held_soc = round(rig.simulator.state.inverters[FIRST].soc)
        spread = await rig.observer.wait_for_topic(
            rig.module_state(FIRST, module_ids[0], "cell_voltage_spread")
        )
        assert spread.payload == "0.003"
        voltage = await rig.observer.wait_for_topic(rig.module_state(FIRST, module_ids[0], "voltage"))
        assert 45 < float(voltage.payload) < 60, "volts, from hundredths"
        first_soc = await rig.observer.wait_for_topic(rig.module_state(FIRST, module_ids[0], "soc"))
        assert abs(int(first_soc.payload) - held_soc) <= 1
        await rig.observer.wait_for_topic(rig.module_state(SECOND, "4512345601"[-4:] + "BAT0000", "soc"))
        await rig.observer.wait_for_topic(rig.module_state(FIRST, module_ids[0], "availability"), "online")


async def test_a_module_taken_out_leaves_nothing_stale_and_one_put_in_is_announced(broker: Broker) -> None:
    async with with_batteries(broker, 2) as rig:
        gone = "5600BAT0001"
        last = BATTERY_SENSORS[-1].topic_path  # published in the rows' order: the last one means all are out
        await rig.observer.wait_for_topic(rig.module_state(FIRST, gone, last))
        under_gone = rig.topics.state(FIRST, f"battery_module/{gone}/").removesuffix("/state")
        published = {seen.topic for seen in rig.observer.messages if seen.topic.startswith(under_gone)}
        assert len(published) == len(BATTERY_SENSORS) + 1  # every sensor and the availability
        rig.simulator.state.set_batteries(FIRST, 1)
        await rig.refresh()
        await rig.observer.wait_for_topic(rig.module_config_topic(FIRST, gone), "")
        for topic in published:
            await rig.observer.wait_for_topic(topic, "")
        # The other module, and the other inverter's, are left as they were.
        assert rig.observer.on(rig.module_config_topic(FIRST, "5600BAT0000"))[-1].payload != ""
        rig.simulator.state.set_batteries(FIRST, 2)
        before = len(rig.observer.on(rig.module_config_topic(FIRST, gone)))
        await rig.refresh()
        back = await rig.observer.wait_count(rig.module_config_topic(FIRST, gone), before + 1)
        assert back[-1].json()["device"]["via_device"] == f"eg4_{FIRST}"
        await rig.observer.wait_for_topic(rig.module_state(FIRST, gone, "availability"), "online")


async def test_through_the_dongle_alone_modules_are_read_from_their_registers_and_one_taken_out_goes(
    broker: Broker,
) -> None:
    """`transport: local`: the modules come from input registers 5002 on, with the values the cloud would
    give; a module taken out is unavailable at the next read (one empty read is no proof) and gone, with
    every state it had, after three."""
    async with with_batteries(broker, 2, through_dongle=True) as rig:
        state = rig.simulator.state
        kept, gone = "5600BAT0000", "5600BAT0001"
        config = (await rig.observer.wait_for_topic(rig.module_config_topic(FIRST, gone))).json()
        assert config["device"]["via_device"] == f"eg4_{FIRST}"
        assert (config["device"]["serial_number"], config["device"]["sw_version"]) == (gone, "2.17")
        assert set(config["cmps"]) == {sensor.key for sensor in BATTERY_SENSORS}
        last = BATTERY_SENSORS[-1].topic_path  # published in the rows' order: the last one means all are out
        assert (await rig.observer.wait_for_topic(rig.module_state(FIRST, gone, last))).payload == "56.0"
        spread = await rig.observer.wait_for_topic(rig.module_state(FIRST, kept, "cell_voltage_spread"))
        assert spread.payload == "0.003"
        voltage = await rig.observer.wait_for_topic(rig.module_state(FIRST, kept, "voltage"))
        assert 45 < float(voltage.payload) < 60, "volts, from hundredths"
        soc = await rig.observer.wait_for_topic(rig.module_state(FIRST, kept, "soc"))
        assert abs(int(soc.payload) - round(state.inverters[FIRST].soc)) <= 1
        assert (
            await rig.observer.wait_for_topic(rig.module_state(FIRST, kept, "cycle_count"))
        ).payload == "58"
        await rig.observer.wait_for_topic(rig.module_state(SECOND, "5601BAT0000", "soc"))
        assert state.requests["dongle:read_input"] > 0
        assert state.requests["/WManage/api/battery/getBatteryInfo"] == 1, "the other inverter's, alone"
        under_gone = rig.topics.state(FIRST, f"battery_module/{gone}/").removesuffix("/state")
        published = {seen.topic for seen in rig.observer.messages if seen.topic.startswith(under_gone)}
        assert len(published) == len(BATTERY_SENSORS) + 1  # every sensor and the availability

        state.set_batteries(FIRST, 1)
        await rig.refresh()
        await rig.observer.wait_for_topic(rig.module_state(FIRST, gone, "availability"), "offline")
        assert rig.observer.on(rig.module_config_topic(FIRST, gone))[-1].payload != "", "not gone yet"
        await rig.refresh()
        await rig.refresh()
        await rig.observer.wait_for_topic(rig.module_config_topic(FIRST, gone), "")
        for topic in published:
            await rig.observer.wait_for_topic(topic, "")
        assert rig.observer.on(rig.module_config_topic(FIRST, kept))[-1].payload != ""
        await rig.observer.wait_for_topic(rig.module_state(FIRST, kept, "availability"), "online")


async def test_a_parallel_group_is_a_device_with_its_inverters_totals(broker: Broker) -> None:
    state = SimulatorState(inverter_count=2, parallel=True)
    async with run_simulator(state) as simulator:
        topics = unique_topics()
        settings = bridge_settings(simulator, broker.port, topics, refresh_request_gap_seconds=0)
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings) as bridge:
                rig = Rig(simulator, topics, observer, bridge)
                config_topic = f"{topics.discovery_prefix}/device/eg4_parallel_4100_A/config"
                config = (await observer.wait_for_topic(config_topic)).json()
                assert config["device"]["model"] == f"Parallel group of {FIRST}, {SECOND}"
                assert config["cmps"]["pv_power"]["state_topic"] == topics.state(
                    "parallel_4100_A", "pv/power"
                )
                await rig.refresh()
                await observer.wait_for_topic(topics.availability("parallel_4100_A"), "online")

                def last(serial: str, path: str) -> float:
                    return float(observer.on(topics.state(serial, path))[-1].payload)

                for path in ("pv/power", "load/power", "energy/pv_today"):
                    total = last("parallel_4100_A", path)
                    assert total == pytest.approx(last(FIRST, path) + last(SECOND, path), abs=0.11), path
                simulator.state.set_offline(SECOND)
                await rig.refresh()
                await observer.wait_for_topic(topics.availability("parallel_4100_A"), "offline")


async def test_a_fault_raised_on_the_inverter_is_shown_in_words_through_the_dongle(broker: Broker) -> None:
    state = SimulatorState(inverter_count=1)
    async with run_simulator(state, dongle_port=0) as simulator:
        topics = unique_topics()
        dongle = {"host": "127.0.0.1", "port": simulator.dongle_port, "serial": state.dongle_serial(FIRST)}
        settings = bridge_settings(
            simulator,
            broker.port,
            topics,
            inverters={FIRST: {"transport": "local", "dongle": dongle}},
            refresh_request_gap_seconds=0,
        )
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings) as bridge:
                rig = Rig(simulator, topics, observer, bridge)
                config = await observer.wait_for_topic(f"{topics.discovery_prefix}/device/eg4_{FIRST}/config")
                fault = config.json()["cmps"]["fault"]
                assert (fault["platform"], fault["device_class"]) == ("binary_sensor", "problem")
                await observer.wait_for_topic(topics.state(FIRST, "inverter/fault"), "OFF")
                await observer.wait_for_topic(topics.state(FIRST, "inverter/faults"), "none")
                async with aiohttp.ClientSession() as http:
                    body = {"inverter_codes": {"serial": FIRST, "fault": 1 << 12, "warning": 1 << 16}}
                    async with http.post(simulator.base_url + "/_sim/faults", json=body) as answer:
                        assert answer.status == 200
                await rig.refresh()
                await observer.wait_for_topic(topics.state(FIRST, "inverter/fault"), "ON")
                await observer.wait_for_topic(
                    topics.state(FIRST, "inverter/faults"), "E012 UPS short circuit"
                )
                await observer.wait_for_topic(
                    topics.state(FIRST, "inverter/warnings"), "W016 No grid connection"
                )


async def test_through_the_cloud_no_fault_sensor_is_announced_that_would_stay_unknown(broker: Broker) -> None:
    async with with_batteries(broker, 0) as rig:
        topic = f"{rig.topics.discovery_prefix}/device/eg4_{FIRST}/config"
        components = (await rig.observer.wait_for_topic(topic)).json()["cmps"]
        assert not {"fault", "faults", "warnings"} & set(components)
        assert "pv_power" in components


async def test_a_gridboss_is_a_device_of_its_own_updated_with_the_inverters(broker: Broker) -> None:
    state = SimulatorState(inverter_count=2, gridboss=True)
    async with run_simulator(state) as simulator:
        gridboss = next(serial for serial, box in state.inverters.items() if not box.has_battery_parameters)
        topics = unique_topics()
        settings = bridge_settings(simulator, broker.port, topics, refresh_request_gap_seconds=0)
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings) as bridge:
                rig = Rig(simulator, topics, observer, bridge)
                config = await observer.wait_for_topic(
                    f"{topics.discovery_prefix}/device/eg4_{gridboss}/config"
                )
                components = config.json()["cmps"]
                assert components["gridboss_grid_power"]["state_topic"] == topics.state(
                    gridboss, "grid/power"
                )
                assert "command_topic" not in components["gridboss_smart_port1_status"]
                assert "smart_port_1_mode" not in components, "offered only where control.expose names it"
                await observer.wait_for_topic(topics.availability(gridboss), "online")
                await observer.wait_for_topic(topics.state(gridboss, "smart_port/1/status"), "smart_load")
                await observer.wait_for_topic(topics.state(gridboss, "smart_port/2/power"), "-450")
                await observer.wait_for_topic(topics.state(gridboss, "grid/voltage"), "241.8")
                await observer.wait_for_topic(topics.state(gridboss, "energy/import_today"), "12.3")
                state.set_offline(gridboss)
                await rig.refresh()
                await observer.wait_for_topic(topics.availability(gridboss), "offline")


SMART_PORTS = ["smart_port_1_mode", "smart_port_2_mode", "smart_port_3_mode", "smart_port_4_mode"]


@asynccontextmanager
async def with_gridboss(broker: Broker, *, expose: list[str]) -> AsyncIterator[tuple[Rig, str]]:
    state = SimulatorState(inverter_count=2, gridboss=True)
    async with run_simulator(state) as simulator:
        gridboss = next(serial for serial, box in state.inverters.items() if not box.has_battery_parameters)
        topics = unique_topics()
        settings = bridge_settings(
            simulator, broker.port, topics, refresh_request_gap_seconds=0, control={"expose": expose}
        )
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings) as bridge:
                yield Rig(simulator, topics, observer, bridge), gridboss


async def test_a_smart_port_mode_is_written_with_its_enable_flag_and_confirmed(broker: Broker) -> None:
    """Port 1 goes to unused (its flag goes off with it), then back to smart load: the bridge writes the
    mode and then the flag, so the port works again, and reads both back (eg4_web_monitor issue 629)."""
    async with with_gridboss(broker, expose=SMART_PORTS) as (rig, gridboss):
        box = rig.simulator.state.inverters[gridboss]
        config_topic = f"{rig.topics.discovery_prefix}/device/eg4_{gridboss}/config"
        config = await rig.observer.wait_for(
            lambda seen: seen.topic == config_topic and "smart_port_1_mode" in seen.json()["cmps"]
        )
        select = config.json()["cmps"]["smart_port_1_mode"]
        assert (select["platform"], select["options"]) == ("select", ["unused", "smart_load", "ac_couple"])
        assert select["command_topic"] == rig.topics.command(gridboss, "smart_port/1/mode")
        await rig.observer.wait_for_topic(rig.topics.state(gridboss, "smart_port/1/mode"), "smart_load")
        unused = await rig.command(gridboss, "smart_port/1/mode", "unused")
        assert (unused["outcome"], unused["confirmed"], unused["via"]) == ("accepted", True, "cloud")
        assert box.values["FUNC_SMART_LOAD_EN_1"] is False, "the firmware turned the flag off with the mode"
        back = await rig.command(gridboss, "smart_port/1/mode", "smart_load")
        assert (back["outcome"], back["confirmed"], back["value"]) == ("accepted", True, "smart_load")
        assert (box.values["BIT_MIDBOX_SP_MODE_1"], box.values["FUNC_SMART_LOAD_EN_1"]) == (1, True)
        coupled = await rig.command(gridboss, "smart_port/3/mode", "ac_couple")
        assert (coupled["outcome"], coupled["confirmed"]) == ("accepted", True)
        assert (box.values["BIT_MIDBOX_SP_MODE_3"], box.values["FUNC_AC_COUPLE_EN_3"]) == (2, True)
        await rig.observer.wait_for_topic(rig.topics.state(gridboss, "smart_port/3/mode"), "ac_couple")
    sent = [write[1:] for write in rig.simulator.state.writes if write[0] == gridboss]
    assert sent == [
        ("BIT_MIDBOX_SP_MODE_1", "0"),
        ("BIT_MIDBOX_SP_MODE_1", "1"),
        ("FUNC_SMART_LOAD_EN_1", "true"),
        ("BIT_MIDBOX_SP_MODE_3", "2"),
        ("FUNC_AC_COUPLE_EN_3", "true"),
    ], "the mode first, then its flag: a flag set before its mode is reverted by the firmware"


async def test_a_smart_port_whose_flag_is_refused_is_not_called_confirmed(broker: Broker) -> None:
    async with with_gridboss(broker, expose=SMART_PORTS) as (rig, gridboss):
        box = rig.simulator.state.inverters[gridboss]
        box.refused = frozenset({"FUNC_SMART_LOAD_EN_4"})
        result = await rig.command(gridboss, "smart_port/4/mode", "smart_load")
        assert (result["outcome"], result["applied"]) == ("failed", "unknown"), (
            "the mode landed, its flag not"
        )
        assert "after BIT_MIDBOX_SP_MODE_4 was written; FUNC_SMART_LOAD_EN_4 was not" in result["error"]
        assert box.values["BIT_MIDBOX_SP_MODE_4"] == 1


async def test_smart_port_modes_are_refused_unless_exposed_and_never_cross_devices(broker: Broker) -> None:
    async with with_gridboss(broker, expose=[]) as (rig, gridboss):
        hidden = await rig.command(gridboss, "smart_port/2/mode", "unused")
        assert hidden["outcome"] == "refused"
        assert "only when control.expose names smart_port_2_mode" in hidden["error"]
        wrong_device = await rig.command(gridboss, "battery/charge_current", "50")
        assert (
            wrong_device["error"]
            == "Battery Charge Current is an inverter setting, and Grid Boss is a GridBOSS"
        )
        on_inverter = await rig.command(FIRST, "smart_port/2/mode", "unused")
        assert on_inverter["error"].startswith("Smart Port 2 Mode is a GridBOSS setting, and ")
    assert [write for write in rig.simulator.state.writes if write[0] == gridboss] == []
