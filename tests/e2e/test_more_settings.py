"""The settings owners still missed (issue 21), end to end: a simulated EG4 hybrid, FlexBOSS, off-grid 12000XP
and Luxpower inverter, reached through the cloud and through their dongles, over a real mosquitto. A number in
whole units, a number in tenths and a flag sharing its register with others are written, confirmed by
reading them back and published; a family that lacks a setting is refused it, by model name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bridge.core.catalogue import SETTINGS
from bridge.service.config_file import settings_from_mapping
from bridge.service.daemon import running_bridge
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from bridge.simulator.dongle import SimulatedDongles
from tests.harness import Bridged, Broker, bridge_settings, observing, unique_topics

pytestmark = pytest.mark.e2e

MODELS = ("18KPV", "FlexBOSS21", "12000XP", "LXP-LB-8K")
HYBRID, FLEXBOSS, OFF_GRID, LUXPOWER = (f"{4512345600 + index:010d}" for index in range(4))
SERIALS = (HYBRID, FLEXBOSS, OFF_GRID, LUXPOWER)
#: Protection settings the owner opened, as `control.expose` names them.
EXPOSED = [
    "battery_discharge_cutoff_voltage",
    "forced_discharge_stop_voltage",
    "pv_start_voltage",
    "battery_off_grid_cutoff_voltage",
    "off_grid_window_1",
    "grid_peak_shaving_voltage",
]


class Rig(Bridged):
    def announced(self, serial: str) -> set[str]:
        """The settings announced to Home Assistant for this inverter."""
        config: dict[str, Any] = self.observer.on(
            f"{self.topics.discovery_prefix}/device/eg4_{serial}/config"
        )[-1].json()
        every = {setting.key for setting in SETTINGS}
        return {key for key, component in config["cmps"].items() if key in every and "unique_id" in component}

    def holding(self, serial: str) -> dict[int, int]:
        """The holding registers the inverter's dongle reads out now."""
        state = self.simulator.state
        return SimulatedDongles(state).holding(state.inverters[serial])

    async def written(self, serial: str, path: str, payload: str, via: str) -> dict[str, Any]:
        """A `/set` accepted, confirmed by reading it back, through `via`."""
        result = await self.command(serial, path, payload)
        assert (result["outcome"], result["confirmed"], result["via"]) == ("accepted", True, via), result
        return result


def local_document(simulator: RunningSimulator, port: int, topics: Any) -> dict[str, Any]:
    return {
        "transport": "local",
        "mqtt": {"port": port, "base_topic": topics.base, "discovery_prefix": topics.discovery_prefix},
        "polling": {"runtime_seconds": 60, "parameters_seconds": 3600, "write_refresh_seconds": 0.5},
        "control": {"min_write_interval_seconds": 0, "expose": EXPOSED},
        "inverters": {
            serial: {
                "dongle": {
                    "host": "127.0.0.1",
                    "port": simulator.dongle_port,
                    "serial": simulator.state.dongle_serial(serial),
                }
            }
            for serial in SERIALS
        },
    }


@asynccontextmanager
async def four_families(broker: Broker, *, local: bool) -> AsyncIterator[Rig]:
    state = SimulatorState(inverter_count=4, models=MODELS)
    async with run_simulator(state, dongle_port=0 if local else None) as simulator:
        topics = unique_topics()
        if local:
            settings = settings_from_mapping(local_document(simulator, broker.port, topics), environ={})
        else:
            settings = bridge_settings(simulator, broker.port, topics, control={"expose": EXPOSED})
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings) as bridge:
                for serial in SERIALS:
                    await observer.wait_for_topic(f"{topics.discovery_prefix}/device/eg4_{serial}/config")
                yield Rig(simulator, topics, observer, bridge)


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "dongle"])
async def test_each_new_kind_of_setting_is_written_confirmed_and_published(
    broker: Broker, local: bool
) -> None:
    via = "dongle" if local else "cloud"
    async with four_families(broker, local=local) as rig:
        before = rig.holding(HYBRID)
        # A number of whole watts (register 116), one in tenths of a volt (169, exposed), a flag sharing
        # register 110 with charge-last and others, and one sharing 179 with peak shaving and others.
        assert (await rig.written(HYBRID, "battery/start_discharge_import", "500", via))["value"] == 500
        assert (await rig.written(HYBRID, "battery/discharge_cutoff_voltage", "45.5", via))["value"] == 45.5
        assert (await rig.written(HYBRID, "grid/fast_zero_export", "OFF", via))["value"] is False
        assert (await rig.written(HYBRID, "smart_load/grid_always_on", "ON", via))["value"] is True
        # The other families, where their rows offer them.
        assert (await rig.written(OFF_GRID, "ac_charge/start_soc", "25", via))["value"] == 25
        assert (await rig.written(LUXPOWER, "grid/export_pv_only", "OFF", via))["value"] is False
        for serial, path, shown in (
            (HYBRID, "battery/start_discharge_import", "500"),
            (HYBRID, "battery/discharge_cutoff_voltage", "45.5"),
            (HYBRID, "grid/fast_zero_export", "OFF"),
            (HYBRID, "smart_load/grid_always_on", "ON"),
            (OFF_GRID, "ac_charge/start_soc", "25"),
            (LUXPOWER, "grid/export_pv_only", "OFF"),
        ):
            await rig.observer.wait_for_topic(rig.topics.state(serial, path), shown)
        after = rig.holding(HYBRID)
    state = rig.simulator.state
    assert [state.value_of(HYBRID, name) for name in (
        "HOLD_P_TO_USER_START_DISCHG", "HOLD_ON_GRID_EOD_VOLTAGE", "FUNC_RUN_WITHOUT_GRID", "FUNC_ON_GRID_ALWAYS_ON",
    )] == ["500", "45.5", False, True]  # fmt: skip
    assert state.value_of(OFF_GRID, "HOLD_AC_CHARGE_START_BATTERY_SOC") == "25"
    assert state.value_of(LUXPOWER, "FUNC_PV_SELL_TO_GRID_EN") is False
    # The registers: watts whole, volts in tenths, each flag its own bit, its neighbours kept.
    assert (after[116], after[169]) == (500, 455)
    assert before[110] & 0b10, "fast zero export was on"
    assert after[110] == before[110] & ~0b10
    assert not before[179] & 0x8000, "grid always on was off"
    assert after[179] == before[179] | 0x8000
    assert set(state.write_transports) == {via}
    if not local:
        # Through the cloud, each by its own name; through the dongle a flag's whole register is written.
        assert state.writes == [
            (HYBRID, "HOLD_P_TO_USER_START_DISCHG", "500"),
            (HYBRID, "HOLD_ON_GRID_EOD_VOLTAGE", "45.5"),
            (HYBRID, "FUNC_RUN_WITHOUT_GRID", "false"),
            (HYBRID, "FUNC_ON_GRID_ALWAYS_ON", "true"),
            (OFF_GRID, "HOLD_AC_CHARGE_START_BATTERY_SOC", "25"),
            (LUXPOWER, "FUNC_PV_SELL_TO_GRID_EN", "false"),
        ]


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "dongle"])
async def test_a_family_lacking_a_new_setting_is_refused_it_naming_the_model(
    broker: Broker, local: bool
) -> None:
    async with four_families(broker, local=local) as rig:
        off_grid = "is not offered on 12000XP (EG4 off-grid (12000XP, 6000XP, SNA))"
        stop = await rig.command(OFF_GRID, "forced_discharge/stop_voltage", "45")
        assert stop["outcome"] == "refused"
        assert stop["error"].startswith(
            f"Forced Discharge Stop Voltage {off_grid}: an SNA12K's parameter list"
        )
        for path, payload, name in (
            ("grid/fast_zero_export", "ON", "Fast Zero Export"),
            ("grid/export_pv_only", "ON", "Export PV Only"),
            ("battery/start_discharge_import", "500", "Start-discharge Import Threshold"),
        ):
            refused = await rig.command(OFF_GRID, path, payload)
            assert refused["outcome"] == "refused", path
            assert refused["error"].startswith(f"{name} {off_grid}: "), refused["error"]
        # Offered where the family has it, but a protection the owner did not open.
        closed = await rig.command(HYBRID, "ac_charge/start_voltage", "45")
        assert closed["error"] == (
            "AC Charge Start Voltage changes a protection: the bridge writes it only when control.expose names "
            "ac_charge_start_voltage"
        )
        # Home Assistant is told the same.
        assert {"grid_fast_zero_export", "grid_export_pv_only", "battery_start_discharge_import"} <= (
            rig.announced(HYBRID) - rig.announced(OFF_GRID)
        )
        assert "forced_discharge_stop_voltage" in rig.announced(HYBRID) - rig.announced(OFF_GRID), "exposed"
        assert {"ac_charge_start_soc", "smart_load_grid_always_on"} <= rig.announced(OFF_GRID)
        assert "ac_charge_start_voltage" not in rig.announced(HYBRID), "a protection not exposed"
    state = rig.simulator.state
    assert state.writes == []
    # The simulated off-grid firmware has no register 202 either, as an SNA12K's parameter list has none.
    assert state.write(OFF_GRID, "_12K_HOLD_STOP_DISCHG_VOLT", "45") == "REMOTE_SET_ERROR"
    assert state.write(HYBRID, "_12K_HOLD_STOP_DISCHG_VOLT", "45") is None


@pytest.mark.parametrize("local", [False, True], ids=["cloud", "dongle"])
async def test_the_schedules_and_voltages_added_last_are_written_and_confirmed(
    broker: Broker, local: bool
) -> None:
    """A schedule the cloud takes with writeTime (the generator's), one it takes as four writes (AC first,
    on the off-grid model that has it), the off-grid cut-off voltage in tenths; and, through the cloud only,
    the PV start voltage and the off-grid models' AC charge end SOC."""
    via = "dongle" if local else "cloud"
    async with four_families(broker, local=local) as rig:
        await rig.written(HYBRID, "generator/window_2", "06:15-07:45", via)
        await rig.written(OFF_GRID, "ac_first/window_1", "22:00-23:30", via)
        # Read under other names than it is written (LSP_HOLD_DIS_CHG_POWER_TIME_41-44).
        await rig.written(LUXPOWER, "peak_shaving/window_2", "17:05-21:30", via)
        await rig.written(HYBRID, "off_grid/window_1", "02:00-03:10", via)
        refused = await rig.command(LUXPOWER, "off_grid/window_1", "02:00-03:10")
        assert refused["error"].startswith("Off-grid Window 1 is not offered on LXP-LB"), refused
        off_grid_peak = await rig.command(OFF_GRID, "peak_shaving/window_1", "17:00-21:00")
        assert off_grid_peak["error"].startswith("Grid Peak Shaving Window 1 is not offered on 12000XP")
        not_exposed = await rig.command(HYBRID, "off_grid/window_2", "02:00-03:10")
        assert "control.expose" in not_exposed["error"], not_exposed
        assert (await rig.written(HYBRID, "grid/peak_shaving_soc", "75", via))["value"] == 75
        assert (await rig.written(LUXPOWER, "grid/peak_shaving_voltage", "51.5", via))["value"] == 51.5
        assert (await rig.written(HYBRID, "battery/off_grid_cutoff_voltage", "42.5", via))["value"] == 42.5
        if not local:
            assert (await rig.written(HYBRID, "pv/start_voltage", "180", via))["value"] == 180
            assert (await rig.written(OFF_GRID, "ac_charge/end_soc", "95", via))["value"] == 95
        await rig.observer.wait_for_topic(rig.topics.state(HYBRID, "generator/window_2"), "06:15-07:45")
        registers = rig.holding(HYBRID), rig.holding(OFF_GRID), rig.holding(LUXPOWER)
        hybrid_first = await rig.command(HYBRID, "ac_first/window_1", "01:00-02:00")
        assert hybrid_first["error"].startswith("AC First Window 1 is not offered on 18KPV")
    state = rig.simulator.state
    assert (registers[0][258], registers[0][259]) == (6 | 15 << 8, 7 | 45 << 8), "hour low, minute high"
    assert (registers[1][152], registers[1][153]) == (22, 23 | 30 << 8)
    assert registers[0][100] == 425, "tenths of a volt"
    assert (registers[2][211], registers[2][212]) == (17 | 5 << 8, 21 | 30 << 8)
    assert (registers[0][269], registers[0][270]) == (2, 3 | 10 << 8)
    assert (registers[0][207], registers[2][208]) == (75, 515), "whole percent; tenths of a volt"
    if local:
        return
    assert state.writes == [
        # writeTime: a boundary at a time, each its hour and minute.
        (HYBRID, "HOLD_GEN_START_HOUR_2", "06"),
        (HYBRID, "HOLD_GEN_START_MINUTE_2", "15"),
        (HYBRID, "HOLD_GEN_END_HOUR_2", "07"),
        (HYBRID, "HOLD_GEN_END_MINUTE_2", "45"),
        (OFF_GRID, "HOLD_AC_FIRST_START_HOUR", "22"),
        (OFF_GRID, "HOLD_AC_FIRST_START_MINUTE", "00"),
        (OFF_GRID, "HOLD_AC_FIRST_END_HOUR", "23"),
        (OFF_GRID, "HOLD_AC_FIRST_END_MINUTE", "30"),
        (LUXPOWER, "LSP_HOLD_DIS_CHG_POWER_TIME_41", "17"),
        (LUXPOWER, "LSP_HOLD_DIS_CHG_POWER_TIME_42", "05"),
        (LUXPOWER, "LSP_HOLD_DIS_CHG_POWER_TIME_43", "21"),
        (LUXPOWER, "LSP_HOLD_DIS_CHG_POWER_TIME_44", "30"),
        (HYBRID, "HOLD_OFF_GRID_START_HOUR_1", "02"),
        (HYBRID, "HOLD_OFF_GRID_START_MINUTE_1", "00"),
        (HYBRID, "HOLD_OFF_GRID_END_HOUR_1", "03"),
        (HYBRID, "HOLD_OFF_GRID_END_MINUTE_1", "10"),
        (HYBRID, "_12K_HOLD_GRID_PEAK_SHAVING_SOC", "75"),
        (LUXPOWER, "_12K_HOLD_GRID_PEAK_SHAVING_VOLT", "51.5"),
        (HYBRID, "HOLD_LEAD_ACID_DISCHARGE_CUT_OFF_VOLT", "42.5"),
        (HYBRID, "HOLD_START_PV_VOLT", "180"),
        (OFF_GRID, "HOLD_AC_CHARGE_END_BATTERY_SOC", "95"),
    ]
    assert state.requests["/WManage/web/maintain/remoteSet/writeTime"] == 6
