"""Safety of control: configured limits, read-only mode, read-back, write spacing, the thermal guard."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from bridge.mqtt.topics import Topics
from bridge.service.daemon import running_bridge
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from tests.harness import Broker, Observer, bridge_settings, observing, unique_topics

pytestmark = pytest.mark.e2e

FIRST = "4512345600"
SECOND = "4512345601"
CHARGE = "battery/charge_current"
DISCHARGE = "battery/discharge_current"
HOLD_CHARGE = "HOLD_LEAD_ACID_CHARGE_RATE"


@dataclass
class Controlled:
    simulator: RunningSimulator
    observer: Observer
    topics: Topics

    async def command(self, serial: str, path: str, payload: str) -> dict[str, Any]:
        """Publish one /set and return its one result."""
        before = len(self.observer.on(self.topics.result(serial, path)))
        await self.observer.publish(self.topics.command(serial, path), payload)
        results = await self.observer.wait_count(self.topics.result(serial, path), before + 1)
        answer: dict[str, Any] = results[before].json()
        return answer


@asynccontextmanager
async def bridged(broker: Broker, **settings: Any) -> AsyncIterator[Controlled]:
    """The simulator, an observer of every topic, and the bridge with `settings`."""
    topics = unique_topics()
    async with (
        run_simulator(SimulatorState(inverter_count=2)) as simulator,
        observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer,
        running_bridge(bridge_settings(simulator, broker.port, topics, **settings)),
    ):
        yield Controlled(simulator, observer, topics)


def component(observer: Observer, prefix: str, serial: str, key: str) -> Any:
    """One entity of the inverter's last device config."""
    seen = observer.on(f"{prefix}/device/eg4_{serial}/config")
    return seen[-1].json()["cmps"].get(key) if seen else None


async def test_configured_limits_are_enforced_and_shown_as_the_discovery_max(broker: Broker) -> None:
    """inverters.<serial> and inverters.default lower the maximum; discovery offers only what is allowed;
    any number setting takes a limit under `limits`."""
    limits = {
        FIRST: {"max_charge_current": 100, "limits": {"ac_charge_power": {"max": 5.5}}},
        "default": {"max_discharge_current": 120},
    }
    async with bridged(broker, inverters=limits) as rig:
        simulator, observer, command = rig.simulator, rig.observer, rig.command
        prefix = rig.topics.discovery_prefix
        await observer.wait_for_topic(f"{prefix}/device/eg4_{SECOND}/config")
        assert component(observer, prefix, FIRST, "battery_charge_current")["max"] == 100
        assert component(observer, prefix, FIRST, "battery_discharge_current")["max"] == 120
        # The inverter holds 7.5 kW, above the 5.5 kW limit: the control shows it (a state beyond the
        # announced max would be `unknown` in Home Assistant), and the problem sensor says so.
        assert component(observer, prefix, FIRST, "ac_charge_power")["max"] == 7.5
        beyond = rig.topics.beyond_limit_attributes(FIRST)
        assert (await observer.wait_for_topic(beyond)).json() == {
            "settings": {"ac_charge_power": {"held": "7.5", "limit": "5.5", "unit": "kW"}}
        }
        assert (await observer.wait_for_topic(rig.topics.beyond_limit(FIRST))).payload == "ON"
        # The FlexBOSS21 holds 250 A of discharge current, above the default's 120 A.
        assert (await observer.wait_for_topic(rig.topics.beyond_limit(SECOND))).payload == "ON"
        assert (await observer.wait_for_topic(rig.topics.beyond_limit_attributes(SECOND))).json() == {
            "settings": {"battery_discharge_current": {"held": "250", "limit": "120", "unit": "A"}}
        }
        assert component(observer, prefix, SECOND, "battery_charge_current")["max"] == 250
        assert component(observer, prefix, SECOND, "battery_discharge_current")["max"] == 250
        assert component(observer, prefix, SECOND, "ac_charge_power")["max"] == 15
        refused = await command(FIRST, CHARGE, "101")
        assert refused["error"] == (
            "Battery Charge Current must be between 0 and 100 A (the limit set in the bridge's config), got 101"
        )
        power = await command(FIRST, "ac_charge/power", "5.6")
        assert power["error"] == (
            "AC Charge Power must be between 0 and 5.5 kW (the limit set in the bridge's config), got 5.6; "
            "the inverter holds 7.5 kW now, above that limit"
        )
        assert (await command(FIRST, CHARGE, "100"))["ok"] is True
        assert (await command(SECOND, DISCHARGE, "121"))["ok"] is False
        assert (await command(SECOND, CHARGE, "200"))["ok"] is True
        assert simulator.state.writes == [(FIRST, HOLD_CHARGE, "100"), (SECOND, HOLD_CHARGE, "200")]


async def test_read_only_mode_shows_values_but_offers_and_takes_no_commands(broker: Broker) -> None:
    """Globally read-only: every setting a sensor in discovery, no command topic anywhere, every /set refused."""
    async with bridged(broker, control={"read_only": True}) as rig:
        simulator, observer, command = rig.simulator, rig.observer, rig.command
        topics = rig.topics
        prefix = topics.discovery_prefix
        await observer.wait_for_topic(f"{prefix}/device/eg4_{FIRST}/config")
        sensor = component(observer, prefix, FIRST, "battery_charge_current")
        assert sensor["platform"] == "sensor"
        assert sensor["state_topic"] == topics.state(FIRST, CHARGE)
        configs = [seen.json() for seen in observer.on(f"{prefix}/device/eg4_{FIRST}/config")]
        commands = [
            entity for config in configs for entity in config["cmps"].values() if "command_topic" in entity
        ]
        assert [entity["platform"] for entity in commands] == ["button"] * len(configs), (
            "only Refresh Now, which reads and writes nothing to the inverter"
        )
        await observer.wait_for_topic(topics.state(FIRST, CHARGE), "25")
        for serial in (FIRST, SECOND):
            result = await command(serial, CHARGE, "80")
            assert result["error"] == f"read-only: the bridge is configured not to write to {serial}"
        assert simulator.state.requests["/WManage/web/maintain/remoteSet/write"] == 0


async def test_read_only_for_one_inverter(broker: Broker) -> None:
    async with bridged(broker, inverters={SECOND: {"read_only": True}}) as rig:
        simulator, observer, command = rig.simulator, rig.observer, rig.command
        prefix = rig.topics.discovery_prefix
        await observer.wait_for_topic(f"{prefix}/device/eg4_{SECOND}/config")
        await observer.wait_for_topic(f"{prefix}/device/eg4_{FIRST}/config")
        assert component(observer, prefix, SECOND, "battery_charge_current")["platform"] == "sensor"
        assert component(observer, prefix, FIRST, "battery_charge_current")["command_topic"]
        assert (await command(SECOND, CHARGE, "80"))["ok"] is False
        assert (await command(FIRST, CHARGE, "80"))["ok"] is True
        assert simulator.state.writes == [(FIRST, HOLD_CHARGE, "80")]


async def test_a_write_the_inverter_does_not_take_is_reported_and_the_real_value_published(
    broker: Broker,
) -> None:
    """The cloud says yes but the inverter keeps its value: confirmed false, and the state shows the truth."""
    async with bridged(broker) as rig:
        simulator, observer, command = rig.simulator, rig.observer, rig.command
        state_topic = rig.topics.state(FIRST, CHARGE)
        await observer.wait_for_topic(state_topic, "25")
        simulator.state.faults.fail_next("write_not_applied", endpoint="remoteSet/write")
        result = await command(FIRST, CHARGE, "90")
        assert (result["ok"], result["confirmed"], result["value"]) == (False, False, 90)
        assert result["error"] == "the cloud accepted 90, but the inverter holds 25"
        assert [seen.payload for seen in observer.on(state_topic)][-1] == "25"
        assert "90" not in [seen.payload for seen in observer.on(state_topic)]
        confirmed = await command(FIRST, CHARGE, "91")
        assert (confirmed["ok"], confirmed["confirmed"]) == (True, True)


async def test_writes_to_one_inverter_are_spaced_and_the_latest_command_wins(broker: Broker) -> None:
    """With a 1 s minimum interval, a burst of six commands becomes two writes a second apart."""
    async with bridged(broker, control={"min_write_interval_seconds": 1.0}) as rig:
        simulator, observer = rig.simulator, rig.observer
        topics = rig.topics
        await observer.wait_for_topic(topics.state(FIRST, CHARGE))
        for value in ("60", "61", "62", "63", "64", "65"):
            await observer.publish(topics.command(FIRST, CHARGE), value)
        results = [
            seen.json() for seen in await observer.wait_count(topics.result(FIRST, CHARGE), 6, within=10)
        ]
        assert sum(result["ok"] for result in results) == 2
        assert sum(str(result["error"]).startswith("superseded") for result in results) == 4
        assert [write[2] for write in simulator.state.writes] == ["60", "65"]
        first, second = simulator.state.write_times
        assert second - first >= 1.0


async def test_the_thermal_guard_refuses_raising_currents_on_a_hot_battery(broker: Broker) -> None:
    guard = {"thermal_guard": {"enabled": True, "max_temperature": 45, "derated_current": 50}}
    async with bridged(broker, control=guard, runtime_seconds=1) as rig:
        simulator, observer, command = rig.simulator, rig.observer, rig.command
        topics = rig.topics
        simulator.state.inverters[FIRST].battery_temperature = 52
        await observer.wait_for_topic(topics.state(FIRST, "battery/temperature"), "52", within=5)
        refused = await command(FIRST, CHARGE, "100")
        assert refused["error"] == (
            "thermal guard: the battery is at 52 °C, above 45 °C, so Battery Charge Current may not be raised "
            "above 50 A"
        )
        assert (await command(FIRST, CHARGE, "50"))["ok"] is True  # up to the derated value is fine
        assert (await command(FIRST, DISCHARGE, "20"))["ok"] is True  # lowering is always fine
        assert (await command(SECOND, CHARGE, "200"))["ok"] is True  # a cool battery elsewhere
        simulator.state.inverters[FIRST].battery_temperature = 30
        await observer.wait_for_topic(topics.state(FIRST, "battery/temperature"), "30", within=5)
        assert (await command(FIRST, CHARGE, "100"))["ok"] is True
        assert simulator.state.writes == [
            (FIRST, HOLD_CHARGE, "50"),
            (FIRST, "HOLD_LEAD_ACID_DISCHARGE_RATE", "20"),
            (SECOND, HOLD_CHARGE, "200"),
            (FIRST, HOLD_CHARGE, "100"),
        ]


async def test_the_bms_limits_are_published_as_sensors(broker: Broker) -> None:
    """In whole amperes, as the current settings are: one number format per unit."""
    async with bridged(broker) as rig:
        observer, topics = rig.observer, rig.topics
        assert (
            await observer.wait_for_topic(topics.state(FIRST, "battery/bms_charge_current_limit"))
        ).payload == "60"
        assert (
            await observer.wait_for_topic(topics.state(FIRST, "battery/bms_discharge_current_limit"))
        ).payload == "100"
        voltage = await observer.wait_for_topic(topics.state(FIRST, "battery/voltage"))
        assert re.fullmatch(r"\d+\.\d", voltage.payload), "volts in tenths"
