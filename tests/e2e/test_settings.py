"""The whole inverter: every kind of setting read, written, confirmed and announced end to end, through a real
mosquitto and the simulator over HTTP, with the same guarantees the battery currents have."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from bridge.core.catalogue import SETTINGS
from bridge.core.families import Family
from bridge.core.kinds import Risk, SwitchSetting, WindowSetting, offered_in_family
from bridge.service.daemon import running_bridge
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from bridge.simulator.state import SimInverter
from tests.harness import Broker, Observer, bridge_settings, observing, unique_topics

pytestmark = pytest.mark.e2e

PV18K = "4512345600"  # the 12KPV register map
FLEXBOSS = "4512345601"  # the FlexBOSS21 register map


@dataclass
class Rig:
    simulator: RunningSimulator
    observer: Observer
    topics: Any

    def inverter(self, serial: str) -> SimInverter:
        return self.simulator.state.inverters[serial]

    async def command(self, serial: str, path: str, payload: str) -> dict[str, Any]:
        topic = self.topics.result(serial, path)
        before = len(self.observer.on(topic))
        await self.observer.publish(self.topics.command(serial, path), payload)
        answer: dict[str, Any] = (await self.observer.wait_count(topic, before + 1))[before].json()
        return answer

    async def state(self, serial: str, path: str, payload: str) -> None:
        await self.observer.wait_for_topic(self.topics.state(serial, path), payload)

    def device(self, serial: str) -> dict[str, Any]:
        config: dict[str, Any] = self.observer.on(
            f"{self.topics.discovery_prefix}/device/eg4_{serial}/config"
        )[-1].json()
        return config


@asynccontextmanager
async def rigged(broker: Broker, **options: Any) -> AsyncIterator[Rig]:
    async with run_simulator(SimulatorState(inverter_count=2)) as simulator:
        topics = unique_topics()
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(bridge_settings(simulator, broker.port, topics, **options)):
                await observer.wait_for_topic(f"{topics.discovery_prefix}/device/eg4_{FLEXBOSS}/config")
                yield Rig(simulator, observer, topics)


async def test_a_number_with_tenths_is_rounded_to_its_step_written_and_confirmed(broker: Broker) -> None:
    async with rigged(broker) as rig:
        await rig.state(PV18K, "ac_charge/power", "7.5")
        result = await rig.command(PV18K, "ac_charge/power", "5.501")
        assert (result["outcome"], result["value"], result["confirmed"]) == ("accepted", 5.5, True)
        assert rig.inverter(PV18K).values["HOLD_AC_CHARGE_POWER_CMD"] == "5.5"
        await rig.state(PV18K, "ac_charge/power", "5.5")
        refused = await rig.command(PV18K, "ac_charge/power", "5.55")
        assert refused["error"] == "AC Charge Power must be a multiple of 0.1 kW between 0 and 15, got 5.55"
        soc = await rig.command(PV18K, "ac_charge/soc_limit", "90")
        assert (soc["value"], soc["ok"]) == (90, True)
    assert [write[1:] for write in rig.simulator.state.writes] == [
        ("HOLD_AC_CHARGE_POWER_CMD", "5.5"),
        ("HOLD_AC_CHARGE_SOC_LIMIT", "90"),
    ]


async def test_a_switch_is_written_through_function_control_and_confirmed(broker: Broker) -> None:
    async with rigged(broker) as rig:
        await rig.state(PV18K, "ac_charge/enabled", "ON")  # the 12KPV map holds FUNC_AC_CHARGE true
        result = await rig.command(PV18K, "ac_charge/enabled", "off")
        assert (result["outcome"], result["value"], result["confirmed"]) == ("accepted", False, True)
        assert rig.inverter(PV18K).values["FUNC_AC_CHARGE"] is False
        await rig.state(PV18K, "ac_charge/enabled", "OFF")
        on = await rig.command(PV18K, "grid/export_enabled", "1")
        assert (on["value"], on["ok"]) == (True, True)
        refused = await rig.command(PV18K, "grid/export_enabled", "maybe")
        assert refused["error"] == "Grid Sell-back takes ON or OFF (or true/false, 1/0), got 'maybe'"
        requests = rig.simulator.state.requests
        assert requests["/WManage/web/maintain/remoteSet/functionControl"] == 2
        assert requests["/WManage/web/maintain/remoteSet/write"] == 0


async def test_a_time_window_is_written_as_four_values_and_confirmed(broker: Broker) -> None:
    async with rigged(broker) as rig:
        await rig.state(PV18K, "ac_charge/window_2", "00:01-06:45")  # as the 12KPV map holds it
        result = await rig.command(PV18K, "ac_charge/window_1", "1:00-5:30")
        assert (result["outcome"], result["value"], result["confirmed"]) == ("accepted", "01:00-05:30", True)
        await rig.state(PV18K, "ac_charge/window_1", "01:00-05:30")
        values = rig.inverter(PV18K).values
        assert [
            values[f"HOLD_AC_CHARGE_{part}"]
            for part in ("START_HOUR", "START_MINUTE", "END_HOUR", "END_MINUTE")
        ] == [
            "01",
            "00",
            "05",
            "30",
        ]
        for bad, reason in (
            ("25:00-05:00", "AC Charge Window 1: hours run from 00 to 23 and minutes from 00 to 59"),
            ("01:00", "AC Charge Window 1 takes a window as HH:MM-HH:MM, such as 01:00-05:00, got '01:00'"),
        ):
            assert (await rig.command(PV18K, "ac_charge/window_1", bad))["error"] == reason
    assert rig.simulator.state.requests["/WManage/web/maintain/remoteSet/write"] == 4


async def test_a_window_refused_half_way_says_how_much_was_written(broker: Broker) -> None:
    async with rigged(broker) as rig:
        rig.simulator.state.faults.write_refusals.extend([])
        original = rig.simulator.state.write

        def refuse_the_third(
            serial: str, hold_param: str, value_text: str, transport: str = "cloud"
        ) -> str | None:
            if hold_param == "HOLD_FORCED_CHARGE_END_HOUR":
                return "REMOTE_SET_ERROR"
            return original(serial, hold_param, value_text, transport)

        rig.simulator.state.write = refuse_the_third  # type: ignore[method-assign]
        result = await rig.command(PV18K, "forced_charge/window_1", "02:00-04:00")
    assert result["outcome"] == "failed"
    assert result["error"] == "REMOTE_SET_ERROR (after 2 of the window's 4 values were written)"
    assert result["attempts"] == 3


async def test_protection_settings_are_offered_only_when_exposed(broker: Broker) -> None:
    async with rigged(broker) as rig:
        assert "eps_enabled" not in rig.device(PV18K)["cmps"]
        refused = await rig.command(PV18K, "eps/enabled", "OFF")
        assert refused["error"] == (
            "Backup Output (EPS) changes a protection: the bridge writes it only when control.expose names eps_enabled"
        )
    async with rigged(broker, control={"expose": ["eps_enabled"]}) as rig:
        assert rig.device(PV18K)["cmps"]["eps_enabled"]["platform"] == "switch"
        assert "grid_off_grid" not in rig.device(PV18K)["cmps"], "only what is named"
        assert (await rig.command(PV18K, "eps/enabled", "OFF"))["ok"] is True
    assert rig.inverter(PV18K).values["FUNC_EPS_EN"] is False


@pytest.mark.parametrize(("serial", "model"), [(PV18K, "18KPV"), (FLEXBOSS, "FlexBOSS21")])
async def test_device_discovery_validates_for_each_model(broker: Broker, serial: str, model: str) -> None:
    """Every component of the device config is well formed for its platform, every everyday setting the
    model has is offered, its state is published, and the energy counters are cumulative."""
    async with rigged(broker) as rig:
        config = rig.device(serial)
        assert config["device"]["model"] == model
        components = config["cmps"]
        everyday = {
            setting.key
            for setting in SETTINGS
            if setting.risk is Risk.EVERYDAY and offered_in_family(setting, Family.EG4_HYBRID, frozenset())
        }
        assert everyday <= set(components), "both real register maps have every everyday setting"
        assert components["grid_export_power_percent"] == {"platform": "number"}, "retired: removed"
        for key, component in components.items():
            if key != "grid_export_power_percent":
                assert_component_well_formed(key, component, serial, rig.topics.base)
        for setting in SETTINGS:
            if setting.key in components:
                expected = "ON|OFF" if isinstance(setting, SwitchSetting) else None
                seen = await rig.observer.wait_for_topic(rig.topics.state(serial, setting.topic_path))
                if expected:
                    assert seen.payload in expected.split("|")
                if isinstance(setting, WindowSetting):
                    assert len(seen.payload) == 11
        total = await rig.observer.wait_for_topic(rig.topics.state(serial, "energy/pv_total"))
        assert float(total.payload) > 12_000


def assert_component_well_formed(key: str, component: dict[str, Any], serial: str, base: str) -> None:
    """One component of an inverter's device config has what its platform needs."""
    platform = component["platform"]
    assert component["unique_id"] == f"eg4_{serial}_{key}"
    if platform == "button":
        assert component["command_topic"] == f"{base}/bridge/request/refresh"
        return
    assert component["state_topic"].startswith(f"{base}/{serial}/")
    if platform == "select":
        assert component["options"] == ["time", "soc_volt", "time_and_soc_volt"]
    elif platform == "number":
        assert component["min"] < component["max"]
        assert component["step"] > 0
        assert component["unit_of_measurement"]
        assert component["entity_category"] == "config"
    elif platform == "switch":
        assert (component["payload_on"], component["payload_off"]) == ("ON", "OFF")
    elif platform == "text":
        assert component["pattern"].startswith("^")
    elif key == "last_command":
        assert (platform, component["entity_category"]) == ("sensor", "diagnostic")
    elif key == "beyond_limit":
        assert (platform, component["device_class"]) == ("binary_sensor", "problem")
    else:
        assert_sensor_well_formed(component)


def assert_sensor_well_formed(component: dict[str, Any]) -> None:
    """A sensor's component: a measurement or a counter; an energy sensor a counter in kWh."""
    assert component["platform"] == "sensor"
    assert component["state_class"] in ("measurement", "total_increasing")
    if component.get("device_class") == "energy":
        assert component["state_class"] == "total_increasing"
        assert component["unit_of_measurement"] == "kWh"


async def test_one_discovery_message_per_inverter_per_refresh(broker: Broker) -> None:
    """The first release sent about 13 configs per inverter per refresh and Home Assistant birth; now one."""
    async with rigged(broker) as rig:
        prefix = rig.topics.discovery_prefix
        configs = [seen for seen in rig.observer.messages if seen.topic.startswith(f"{prefix}/device/")]
        before = len(configs)
        await rig.observer.publish(f"{prefix}/status", "online")
        await rig.observer.wait_count(f"{prefix}/device/eg4_{PV18K}/config", 2)
        await rig.observer.wait_count(f"{prefix}/device/eg4_{FLEXBOSS}/config", 2)
        after = [seen for seen in rig.observer.messages if seen.topic.startswith(f"{prefix}/")]
        per_entity = [
            seen for seen in after if seen.topic.startswith((f"{prefix}/number/", f"{prefix}/sensor/"))
        ]
        assert per_entity == [], "no first-release config on this broker: nothing to migrate"
        assert len([seen for seen in after if seen.topic.startswith(f"{prefix}/device/")]) == before + 2


async def test_a_refused_command_shows_on_the_inverters_last_command_sensor(broker: Broker) -> None:
    """Home Assistant accepts 42.5 in its box; the bridge refuses it; the diagnostic sensor says so."""
    async with rigged(broker) as rig:
        sensor = rig.device(PV18K)["cmps"]["last_command"]
        assert (sensor["platform"], sensor["entity_category"]) == ("sensor", "diagnostic")
        # One message carries the state and its attributes: Home Assistant never shows one without the other.
        assert sensor["state_topic"] == sensor["json_attributes_topic"]
        assert sensor["state_topic"] == f"{rig.topics.base}/{PV18K}/last_command/attributes"
        assert sensor["value_template"] == "{{ value_json.outcome }}"
        await rig.command(PV18K, "battery/charge_current", "42.5")
        attributes = await rig.observer.wait_for_topic(sensor["json_attributes_topic"])
        assert attributes.json()["outcome"] == "refused"
        assert attributes.json()["error"] == (
            "Battery Charge Current must be a whole number of A between 0 and 250, got 42.5"
        )
        assert (attributes.json()["setting"], attributes.json()["requested"]) == (
            "battery/charge_current",
            "42.5",
        )
        await rig.command(PV18K, "battery/charge_current", "42")
        accepted = await rig.observer.wait_for(
            lambda seen: seen.topic == attributes.topic and seen.json()["outcome"] == "accepted"
        )
        assert accepted.json()["setting"] == "battery/charge_current"
        # A command is answered in three messages (state, result, Last Command), no fourth.
        assert not [seen for seen in rig.observer.messages if seen.topic.endswith("/last_command/state")]


async def test_the_bridge_says_what_it_serves_on_its_info_topic_and_no_secret(broker: Broker) -> None:
    async with rigged(broker, inverters={PV18K: {"limits": {"ac_charge_power": {"max": 5}}}}) as rig:
        seen = await rig.observer.wait_for_topic(f"{rig.topics.base}/bridge/info")
        info = seen.json()
        assert info["version"]
        assert info["cloud"] == "127.0.0.1"
        serials = [inverter["serial"] for inverter in info["inverters"]]
        assert serials == [PV18K, FLEXBOSS]
        first = info["inverters"][0]
        assert (first["model"], first["transport"], first["read_only"]) == ("18KPV", "cloud", False)
        assert first["limits"] == {"ac_charge_power": "5"}
        assert "demo" not in seen.payload, "neither the account nor its password"


async def test_the_status_page_shows_inverters_settings_and_the_last_commands(broker: Broker) -> None:
    """Server-rendered, reloading itself, readable on a phone, relative links (Home Assistant's ingress),
    and every value escaped: a command's payload is whatever anyone published."""
    import aiohttp

    from tests.harness import free_port

    port = free_port()
    async with rigged(broker, health={"enabled": True, "port": port}) as rig:
        await rig.command(PV18K, "ac_charge/power", "<script>x</script>")
        await rig.command(PV18K, "ac_charge/power", "6")
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as answer:
            assert answer.status == 200
            assert answer.content_type == "text/html"
            page = await answer.text()
    assert '<meta http-equiv="refresh" content="10">' in page
    assert '<meta name="viewport" content="width=device-width,initial-scale=1">' in page
    assert f"18KPV {PV18K}" in page
    assert f"FlexBOSS21 {FLEXBOSS}" in page
    assert '<td data-label="setting">AC Charge Power</td><td data-label="value">6.0 kW</td>' in page
    assert "connected" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>" not in page
    assert 'href="/' not in page, "relative links only, for the ingress"
    assert 'src="/' not in page
    assert page.index('<td data-label="sent">6</td>') < page.index("&lt;script&gt;"), (
        "the newest command first"
    )


async def test_a_select_is_written_through_bit_param_control_and_confirmed(broker: Broker) -> None:
    async with rigged(broker) as rig:
        await rig.state(PV18K, "ac_charge/type", "time")
        result = await rig.command(PV18K, "ac_charge/type", "SOC_VOLT")
        assert (result["outcome"], result["value"], result["confirmed"]) == ("accepted", "soc_volt", True)
        assert rig.inverter(PV18K).values["BIT_AC_CHARGE_TYPE"] == 1
        await rig.state(PV18K, "ac_charge/type", "soc_volt")
        refused = await rig.command(PV18K, "ac_charge/type", "sometimes")
        assert (
            refused["error"]
            == "AC Charge Type takes one of time, soc_volt, time_and_soc_volt, got 'sometimes'"
        )
    assert rig.simulator.state.requests["/WManage/web/maintain/remoteSet/bitParamControl"] == 1


async def test_the_refresh_button_reads_every_inverter_now(broker: Broker) -> None:
    async with rigged(broker) as rig:
        button = rig.device(PV18K)["cmps"]["refresh"]
        reads = rig.simulator.state.requests["/WManage/web/maintain/remoteRead/read"]
        await rig.observer.publish(button["command_topic"], button["payload_press"])
        answer = await rig.observer.wait_for_topic(f"{rig.topics.base}/bridge/response/refresh")
        assert (answer.json()["status"], answer.json()["inverters"]) == ("ok", 2)
        assert rig.simulator.state.requests["/WManage/web/maintain/remoteRead/read"] == reads + 6
