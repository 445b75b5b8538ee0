"""A GridBOSS reached through its own dongle, or its own RS485 adapter, with no cloud at all: announced with
only the sensors its registers give, and publishing what the simulated cloud's answer says for the same
state (a real mosquitto, the simulator's dongle and Modbus ports over real TCP)."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.core.catalogue import GRIDBOSS_SENSORS
from bridge.core.readings import parse_gridboss
from bridge.mqtt.announcer import format_reading
from bridge.service.config_file import settings_from_mapping
from bridge.service.daemon import running_bridge
from bridge.simulator import SimulatorState, run_simulator
from bridge.simulator.answers import gridboss_answer
from bridge.transports.router import GRIDBOSS_LOCAL_SENSORS
from tests.harness import Broker, observing, unique_topics

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("way", ["dongle", "modbus"])
async def test_a_gridboss_read_through_its_own_registers_says_what_the_cloud_says(
    broker: Broker, way: str
) -> None:
    state = SimulatorState(inverter_count=2, gridboss=True)
    gridboss = next(serial for serial, box in state.inverters.items() if not box.has_battery_parameters)
    async with run_simulator(state, dongle_port=0, modbus_port=0) as simulator:
        local: dict[str, Any] = {
            "dongle": {
                "host": "127.0.0.1",
                "port": simulator.dongle_port,
                "serial": state.dongle_serial(gridboss),
            },
            # The simulator's adapter units: the inverters first, then the GridBOSS.
            "modbus": {"host": "127.0.0.1", "port": simulator.modbus_port, "unit": 3},
        }
        topics = unique_topics()
        settings = settings_from_mapping(
            {
                "transport": "local",
                "mqtt": {
                    "port": broker.port,
                    "base_topic": topics.base,
                    "discovery_prefix": topics.discovery_prefix,
                },
                "polling": {"runtime_seconds": 60, "parameters_seconds": 3600},
                "inverters": {gridboss: {"gridboss": True, way: local[way]}},
            },
            environ={},
        )
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings):
                config = await observer.wait_for_topic(
                    f"{topics.discovery_prefix}/device/eg4_{gridboss}/config"
                )
                assert set(config.json()["cmps"]) == GRIDBOSS_LOCAL_SENSORS
                assert "gridboss_import_today" not in GRIDBOSS_LOCAL_SENSORS, "disputed registers: not read"
                await observer.wait_for_topic(topics.availability(gridboss), "online")
                given = [sensor for sensor in GRIDBOSS_SENSORS if sensor.key in GRIDBOSS_LOCAL_SENSORS]
                for sensor in given:
                    await observer.wait_for_topic(topics.state(gridboss, sensor.topic_path))
                # The cloud's answer for the state the registers were read from. The inverters' flows are
                # brought up to date for each block of registers read, so a power that follows them (grid,
                # load, backup) may have moved by a watt or two between its block and the last; a wrong
                # scale, sign or register would be off by far more. Everything else is exact.
                cloud = parse_gridboss(gridboss_answer(state, state.inverters[gridboss]), gridboss)
                published = {
                    s.key: observer.on(topics.state(gridboss, s.topic_path))[-1].payload for s in given
                }
                expected = {s.key: format_reading(s, getattr(cloud, s.field)) for s in given}
                moving = {key for key in expected if key.endswith("_power") and "smart_port" not in key}
                assert moving, "the flow-following powers are among the sensors compared"
                # Large enough that a scale of ten, or another register, could not pass within 5 W.
                assert float(expected["gridboss_load_power"]) > 100
                assert float(expected["gridboss_backup_power"]) > 100
                assert {key: float(published[key]) for key in moving} == pytest.approx(
                    {key: float(expected[key]) for key in moving}, abs=5
                )
                assert {key: published[key] for key in expected.keys() - moving} == {
                    key: expected[key] for key in expected.keys() - moving
                }
                assert published["gridboss_smart_port2_power"] == "-450", "a negative power keeps its sign"
                for sensor in GRIDBOSS_SENSORS:
                    if sensor.key not in GRIDBOSS_LOCAL_SENSORS:
                        assert observer.on(topics.state(gridboss, sensor.topic_path)) == [], sensor.key
        assert state.requests["dongle:read_input" if way == "dongle" else "modbus:read_input"] >= 3
        assert not any(name.startswith(("login", "/WManage")) for name in state.requests), "no cloud at all"
