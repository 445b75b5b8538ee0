"""One truth per setting, per model family, end to end: a simulated EG4 hybrid, FlexBOSS, off-grid 12000XP and
Luxpower inverter, reached through the cloud and through their dongles, over a real mosquitto. Each family is
offered what its row says, each setting is encoded as its row says, and what the inverter holds is always
shown within the bounds Home Assistant was told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from bridge.core.catalogue import QUICK_CHARGE_RUNNING, SETTINGS
from bridge.core.families import Family
from bridge.core.kinds import Risk, offered_in_family
from bridge.service.config_file import settings_from_mapping
from bridge.service.daemon import running_bridge
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from tests.harness import Bridged, Broker, bridge_settings, observing, unique_topics

pytestmark = pytest.mark.e2e

MODELS = ("18KPV", "FlexBOSS21", "12000XP", "LXP-LB-8K")
HYBRID, FLEXBOSS, OFF_GRID, LUXPOWER = (f"{4512345600 + index:010d}" for index in range(4))
FAMILIES = {
    HYBRID: Family.EG4_HYBRID,
    FLEXBOSS: Family.EG4_HYBRID,
    OFF_GRID: Family.EG4_OFF_GRID,
    LUXPOWER: Family.LUXPOWER,
}
#: The names an inverter reached without the cloud gets from its identity registers.
LOCAL_NAMES = {HYBRID: "18KPV", FLEXBOSS: "FlexBOSS21", OFF_GRID: "12000XP", LUXPOWER: "LXP-LB"}


class Rig(Bridged):
    def device(self, serial: str) -> dict[str, Any]:
        config: dict[str, Any] = self.observer.on(
            f"{self.topics.discovery_prefix}/device/eg4_{serial}/config"
        )[-1].json()
        return config

    async def sim(self, path: str, body: dict[str, Any]) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.simulator.base_url + path, json=body) as answer,
        ):
            assert answer.status == 200, await answer.text()


def local_document(simulator: RunningSimulator, port: int, topics: Any) -> dict[str, Any]:
    return {
        "transport": "local",
        "mqtt": {"port": port, "base_topic": topics.base, "discovery_prefix": topics.discovery_prefix},
        "polling": {"runtime_seconds": 60, "parameters_seconds": 3600, "write_refresh_seconds": 0.5},
        "control": {"min_write_interval_seconds": 0},
        "inverters": {
            serial: {
                "dongle": {
                    "host": "127.0.0.1",
                    "port": simulator.dongle_port,
                    "serial": simulator.state.dongle_serial(serial),
                }
            }
            for serial in FAMILIES
        },
    }


@asynccontextmanager
async def four_families(broker: Broker, *, local: bool = False, **options: Any) -> AsyncIterator[Rig]:
    state = SimulatorState(inverter_count=4, models=MODELS)
    async with run_simulator(state, dongle_port=0 if local else None) as simulator:
        topics = unique_topics()
        if local:
            settings = settings_from_mapping(local_document(simulator, broker.port, topics), environ={})
        else:
            settings = bridge_settings(simulator, broker.port, topics, **options)
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings) as bridge:
                for serial in FAMILIES:
                    await observer.wait_for_topic(f"{topics.discovery_prefix}/device/eg4_{serial}/config")
                yield Rig(simulator, topics, observer, bridge)


def expected_settings(serial: str, rig: Rig, *, local: bool) -> set[str]:
    """What the rows offer this inverter's family (everyday settings), and, locally, only what has a
    register encoding."""
    names = rig.simulator.state.inverters[serial].values
    return {
        setting.key
        for setting in SETTINGS
        if setting.risk is Risk.EVERYDAY
        and offered_in_family(setting, FAMILIES[serial], frozenset())
        # Quick charge's state is the cloud's status answer, not one of the parameters.
        and all(name in names or name == QUICK_CHARGE_RUNNING for name in setting.field_names)
        and (not local or setting.local)
    }


def announced_settings(config: dict[str, Any]) -> set[str]:
    every = {setting.key for setting in SETTINGS}
    return {key for key, component in config["cmps"].items() if key in every and "unique_id" in component}


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "dongle"])
async def test_each_family_is_offered_what_its_rows_say(broker: Broker, local: bool) -> None:
    async with four_families(broker, local=local) as rig:
        for serial, family in FAMILIES.items():
            device = rig.bridge.coordinator.fleet[serial].device
            assert device.family is family, serial
            assert announced_settings(rig.device(serial)) == expected_settings(serial, rig, local=local), (
                serial
            )
        if local:
            for serial, name in LOCAL_NAMES.items():
                assert rig.device(serial)["device"]["model"] == name, "named from its identity registers"
        off_grid = announced_settings(rig.device(OFF_GRID))
        assert "grid_export_power_limit" not in off_grid
        assert "grid_export_enabled" not in off_grid
        assert "battery_charge_current" in off_grid
        luxpower = announced_settings(rig.device(LUXPOWER))
        assert "ac_charge_power" not in luxpower
        assert "grid_export_power_limit" not in luxpower
        assert "grid_export_power_limit" in announced_settings(rig.device(HYBRID))


async def test_a_set_for_what_the_family_lacks_is_refused_naming_the_model(broker: Broker) -> None:
    async with four_families(broker) as rig:
        refused = await rig.command(OFF_GRID, "grid/export_enabled", "ON")
        assert refused["outcome"] == "refused"
        assert refused["error"].startswith("Grid Sell-back is not offered on 12000XP (EG4 off-grid")
        disputed = await rig.command(LUXPOWER, "ac_charge/power", "5")
        assert disputed["outcome"] == "refused"
        assert disputed["error"].startswith("AC Charge Power is not offered on LXP-LB-8K (Luxpower (LXP))")
        assert "control.expose names ac_charge_power" in disputed["error"]
    assert rig.simulator.state.writes == []


async def test_a_disputed_setting_named_in_expose_is_offered_and_written(broker: Broker) -> None:
    async with four_families(broker, control={"expose": ["ac_charge_power"]}) as rig:
        assert "ac_charge_power" in announced_settings(rig.device(LUXPOWER))
        result = await rig.command(LUXPOWER, "ac_charge/power", "5")
        assert (result["outcome"], result["confirmed"]) == ("accepted", True)
    assert rig.simulator.state.writes == [(LUXPOWER, "HOLD_AC_CHARGE_POWER_CMD", "5.0")]


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "dongle"])
async def test_the_export_power_limit_is_written_and_read_back_in_kilowatts(
    broker: Broker, local: bool
) -> None:
    async with four_families(broker, local=local) as rig:
        result = await rig.command(HYBRID, "grid/export_power_limit", "12.1")
        assert (result["outcome"], result["value"], result["confirmed"]) == ("accepted", 12.1, True)
        assert result["via"] == ("dongle" if local else "cloud")
        await rig.observer.wait_for_topic(rig.topics.state(HYBRID, "grid/export_power_limit"), "12.1")
        too_much = await rig.command(HYBRID, "grid/export_power_limit", "50")
        assert too_much["error"] == "Grid Export Power Limit must be between 0 and 25.5 kW, got 50"
        retired = await rig.command(HYBRID, "grid/export_power_percent", "20")
        assert retired["outcome"] == "refused"
        assert "was retired in 0.3" in retired["error"]
        assert "grid/export_power_limit/set" in retired["error"]
    state = rig.simulator.state
    assert state.value_of(HYBRID, "HOLD_FEED_IN_GRID_POWER_PERCENT") == "12.1"
    assert state.writes == [(HYBRID, "HOLD_FEED_IN_GRID_POWER_PERCENT", "12.1")]
    if local:
        from bridge.simulator.dongle import SimulatedDongles

        assert SimulatedDongles(state).holding(state.inverters[HYBRID])[103] == 121, "tenths of a kW"


async def test_the_retired_percent_setting_leaves_nothing_on_the_broker(broker: Broker) -> None:
    async with four_families(broker) as rig:
        old_state = rig.topics.state(HYBRID, "grid/export_power_percent")
        await rig.observer.wait_for_topic(old_state, "")
        assert rig.device(HYBRID)["cmps"]["grid_export_power_percent"] == {"platform": "number"}


async def test_every_number_state_lies_within_its_announced_bounds_whatever_the_limits(
    broker: Broker,
) -> None:
    """The FlexBOSS21 holds 250 A under a limit of 100 A, and 12 kW of AC charge power under 5: each control
    is announced with bounds that hold the value, and the problem sensor names both."""
    limits = {"default": {"max_charge_current": 100, "limits": {"ac_charge_power": {"max": 5}}}}
    async with four_families(broker, inverters=limits) as rig:
        checked = 0
        for serial in FAMILIES:
            for key, component in rig.device(serial)["cmps"].items():
                if component.get("platform") != "number" or "state_topic" not in component:
                    continue  # not a number, or a retired one's removal
                seen = await rig.observer.wait_for_topic(component["state_topic"])
                assert component["min"] <= Decimal(seen.payload) <= component["max"], (serial, key)
                checked += 1
        assert checked > 20
        beyond = await rig.observer.wait_for_topic(rig.topics.beyond_limit_attributes(FLEXBOSS))
        assert beyond.json()["settings"]["battery_charge_current"] == {
            "held": "250",
            "limit": "100",
            "unit": "A",
        }
        assert beyond.json()["settings"]["ac_charge_power"] == {"held": "12.0", "limit": "5", "unit": "kW"}
        assert (await rig.observer.wait_for_topic(rig.topics.beyond_limit(FLEXBOSS))).payload == "ON"


async def test_bring_down_to_limit_writes_a_held_value_down_once(broker: Broker) -> None:
    limits = {FLEXBOSS: {"max_charge_current": 100}}
    async with four_families(broker, inverters=limits, control={"bring_down_to_limit": True}) as rig:
        topic = rig.topics.result(FLEXBOSS, "battery/charge_current")
        result = (await rig.observer.wait_for_topic(topic)).json()
        assert (result["outcome"], result["value"], result["confirmed"]) == ("accepted", 100, True)
        await rig.observer.wait_for_topic(rig.topics.beyond_limit(FLEXBOSS), "OFF")
    assert rig.simulator.state.value_of(FLEXBOSS, "HOLD_LEAD_ACID_CHARGE_RATE") == "100"
    assert [write for write in rig.simulator.state.writes if write[0] == FLEXBOSS] == [
        (FLEXBOSS, "HOLD_LEAD_ACID_CHARGE_RATE", "100")
    ]


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "dongle"])
async def test_peak_shaving_power_is_refused_while_peak_shaving_is_off(broker: Broker, local: bool) -> None:
    async with four_families(broker, local=local) as rig:
        written = await rig.command(HYBRID, "grid/peak_shaving_power", "3.5")
        assert (written["ok"], written["via"]) == (True, "dongle" if local else "cloud")
        if local:  # tenths of a kW in register 206
            from bridge.simulator.dongle import SimulatedDongles

            assert (
                SimulatedDongles(rig.simulator.state).holding(rig.simulator.state.inverters[HYBRID])[206]
                == 35
            )
        assert (await rig.command(HYBRID, "grid/peak_shaving", "OFF"))["ok"] is True
        refused = await rig.command(HYBRID, "grid/peak_shaving_power", "4")
        assert refused["outcome"] == "refused"
        assert refused["error"].startswith("Grid Peak Shaving Power is refused by the firmware while")
    state = rig.simulator.state
    # The simulated firmware zeroes the setpoint when peak shaving goes off, and refuses it while off.
    assert state.value_of(HYBRID, "_12K_HOLD_GRID_PEAK_SHAVING_POWER") == "0"
    assert state.write(HYBRID, "_12K_HOLD_GRID_PEAK_SHAVING_POWER", "4") == "DATAFRAME_TIMEOUT"


async def test_an_energy_counter_the_cloud_reports_lower_publishes_nothing_lower(broker: Broker) -> None:
    async with four_families(broker) as rig:
        total = rig.topics.state(HYBRID, "energy/pv_total")
        first = float((await rig.observer.wait_for_topic(total)).payload)
        await rig.sim("/_sim/faults", {"energy_dips": 8})
        for _ in range(2):
            before = len(rig.observer.on(rig.topics.refresh_response))
            await rig.observer.publish(rig.topics.refresh_request, "{}")
            await rig.observer.wait_count(rig.topics.refresh_response, before + 1)
        assert rig.simulator.state.faults.energy_dips == 0, "every dipped answer was read"
        said = [float(seen.payload) for seen in rig.observer.on(total)]
        assert said[0] == first
        assert said == sorted(said), "never lower than before"
        assert rig.bridge.coordinator.announcer.energy_held_back >= 8
