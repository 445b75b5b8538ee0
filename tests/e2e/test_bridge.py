"""The daemon end to end: a real mosquitto, the simulator over HTTP, the bridge in this process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bridge import PROJECT_URL, __version__
from bridge.mqtt.topics import Topics
from bridge.service.daemon import RunningBridge, running_bridge
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from tests.harness import Broker, Observer, bridge_settings, observing, unique_topics

pytestmark = pytest.mark.e2e

FIRST = "4512345600"
SECOND = "4512345601"
CHARGE = "battery/charge_current"
DISCHARGE = "battery/discharge_current"
READ = "/WManage/web/maintain/remoteRead/read"


@dataclass
class Rig:
    simulator: RunningSimulator
    topics: Topics
    observer: Observer
    bridge: RunningBridge

    def result_topic(self, serial: str, path: str) -> str:
        return self.topics.result(serial, path)

    async def command(
        self, serial: str, path: str, payload: str | bytes, *, retain: bool = False
    ) -> dict[str, object]:
        """Publish one /set and return its one result."""
        topic = self.topics.result(serial, path)
        before = len(self.observer.on(topic))
        await self.observer.publish(self.topics.command(serial, path), payload, retain=retain)
        results = await self.observer.wait_count(topic, before + 1)
        answer: dict[str, object] = results[before].json()
        return answer


@pytest.fixture
async def rig(broker: Broker) -> AsyncIterator[Rig]:
    async with run_simulator(SimulatorState(inverter_count=2, gridboss=True, parallel=True)) as simulator:
        topics = unique_topics()
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            settings = bridge_settings(simulator, broker.port, topics, runtime_seconds=1)
            async with running_bridge(settings) as bridge:
                yield Rig(simulator, topics, observer, bridge)


async def test_startup_publishes_status_availability_states_and_sensors(rig: Rig) -> None:
    """After the first refresh: status online, each inverter online, both currents and every sensor, retained."""
    topics, observer = rig.topics, rig.observer
    status = await observer.wait_for_topic(topics.bridge_status, "online")
    assert status.qos == 1
    await observer.wait_for_topic(topics.availability(FIRST), "online")
    charge = await observer.wait_for_topic(topics.state(FIRST, CHARGE))
    assert (charge.payload, charge.qos) == ("25", 1)
    assert (await observer.wait_for_topic(topics.state(SECOND, DISCHARGE))).payload == "250"
    soc = await observer.wait_for_topic(topics.state(FIRST, "battery/soc"))
    assert soc.payload.isdigit()
    for path in (
        "battery/voltage",
        "battery/power",
        "battery/temperature",
        "battery/bms_charge_current_limit",
        "battery/bms_discharge_current_limit",
        "pv/power",
        "grid/import_power",
        "grid/export_power",
    ):
        await observer.wait_for_topic(topics.state(FIRST, path))
    assert not observer.on(topics.availability("4812345602")), "a GridBOSS has no battery entities"


async def test_states_are_retained_for_late_subscribers(rig: Rig, broker: Broker) -> None:
    """A client that subscribes after startup receives the retained status, availability and states."""
    await rig.observer.wait_for_topic(rig.topics.state(FIRST, CHARGE))
    async with observing(broker.port, f"{rig.topics.base}/#") as late:
        for topic, payload in [
            (rig.topics.bridge_status, "online"),
            (rig.topics.availability(FIRST), "online"),
            (rig.topics.state(FIRST, CHARGE), "25"),
        ]:
            seen = await late.wait_for_topic(topic, payload)
            assert seen.retain


@pytest.mark.parametrize(
    ("path", "hold_param"),
    [(CHARGE, "HOLD_LEAD_ACID_CHARGE_RATE"), (DISCHARGE, "HOLD_LEAD_ACID_DISCHARGE_RATE")],
)
async def test_a_set_is_written_confirmed_published_and_answered_once(
    rig: Rig, path: str, hold_param: str
) -> None:
    """/set -> the simulator holds the value -> state updated -> exactly one result."""
    await rig.observer.wait_for_topic(rig.topics.state(FIRST, path))
    result = await rig.command(FIRST, path, "80")
    assert result["ok"] is True
    assert (result["value"], result["requested"], result["error"]) == (80, "80", None)
    assert (result["confirmed"], result["attempts"]) == (True, 1)
    assert isinstance(result["ts"], str)
    assert rig.simulator.state.value_of(FIRST, hold_param) == "80"
    assert rig.simulator.state.writes == [(FIRST, hold_param, "80")]
    state = await rig.observer.wait_for_topic(rig.topics.state(FIRST, path), "80")
    assert (state.qos, state.payload) == (1, "80")
    await asyncio.sleep(0.3)
    assert len(rig.observer.on(rig.result_topic(FIRST, path))) == 1
    assert not rig.observer.on(rig.result_topic(FIRST, path))[0].retain


@pytest.mark.parametrize("payload", ["80.0", " 80 ", "8e1", "80.004", "80.01"])
async def test_accepted_payload_forms(rig: Rig, payload: str) -> None:
    """Plain integers, decimals within 0.01 and JSON numbers are all 80 A."""
    result = await rig.command(FIRST, CHARGE, payload)
    assert (result["ok"], result["value"]) == (True, 80)
    assert rig.simulator.state.value_of(FIRST, "HOLD_LEAD_ACID_CHARGE_RATE") == "80"


REFUSALS = [
    ("", "empty payload: send a number of A, such as 80"),
    ("abc", "Battery Charge Current must be a number such as 80, got 'abc'"),
    ("NaN", "Battery Charge Current must be a finite number, got NaN"),
    ("inf", "Battery Charge Current must be a finite number, got inf"),
    ("-Infinity", "Battery Charge Current must be a finite number, got -Infinity"),
    ("80.5", "Battery Charge Current must be a whole number of A between 0 and 250, got 80.5"),
    ("251", "Battery Charge Current must be between 0 and 250 A, got 251"),
    ("-1", "Battery Charge Current must be between 0 and 250 A, got -1"),
    ("1e400", "Battery Charge Current must be between 0 and 250 A, got 1E+400"),
    ('{"value": 80}', "Battery Charge Current must be a number such as 80, got '{\"value\": 80}'"),
    ("[80]", "Battery Charge Current must be a number such as 80, got '[80]'"),
    ("true", "Battery Charge Current must be a number such as 80, got 'true'"),
    (
        "߀",
        "Battery Charge Current must be a number such as 80, got '߀'",
    ),  # N'Ko digit zero, found by hypothesis
    ("x" * 65, "payload too long (65 bytes; at most 64)"),
]


@pytest.mark.parametrize(("payload", "reason"), REFUSALS)
async def test_refused_payloads_get_one_clear_result_and_nothing_is_written(
    rig: Rig, payload: str, reason: str
) -> None:
    result = await rig.command(FIRST, CHARGE, payload)
    assert result == {
        "ok": False,
        "outcome": "refused",
        "value": None,
        "requested": result["requested"],
        "error": reason,
        "applied": False,
        "confirmed": False,
        "attempts": 0,
        "ts": result["ts"],
    }
    assert result["requested"] == (payload if len(payload) <= 64 else payload[:64] + "…")
    assert rig.simulator.state.requests["/WManage/web/maintain/remoteSet/write"] == 0


async def test_non_utf8_payload_is_refused(rig: Rig) -> None:
    result = await rig.command(FIRST, CHARGE, b"\xff\xfe80")
    assert result["error"] == "payload is not UTF-8 text"
    assert rig.simulator.state.writes == []


async def test_unknown_serial_and_unknown_parameter_are_refused(rig: Rig) -> None:
    unknown_serial = await rig.command("9999999999", CHARGE, "80")
    assert unknown_serial["error"] == "unknown inverter 9999999999"
    gridboss = await rig.command("4812345602", CHARGE, "80")
    assert gridboss["error"] == "Battery Charge Current is an inverter setting, and Grid Boss is a GridBOSS"
    unknown_parameter = await rig.command(FIRST, "battery/soc", "80")
    assert unknown_parameter["error"] == (
        f"unknown setting battery/soc: not one the bridge writes on {FIRST} (see the README's topic table)"
    )
    assert rig.simulator.state.writes == []


async def test_a_retained_set_is_never_written(rig: Rig) -> None:
    """A retained /set is answered with a refusal and never reaches the inverter, now or on reconnect."""
    result = await rig.command(FIRST, CHARGE, "90", retain=True)
    assert result["ok"] is False
    assert result["error"] == "retained command ignored: publish /set without the retain flag"
    assert rig.simulator.state.writes == []
    await rig.observer.publish(rig.topics.command(FIRST, CHARGE), "", retain=True)  # clear it from the broker


async def test_the_cloud_refusal_text_is_passed_on_verbatim(rig: Rig) -> None:
    rig.simulator.state.faults.fail_next("remote_set_error", endpoint="remoteSet/write")
    result = await rig.command(FIRST, DISCHARGE, "100")
    assert (result["ok"], result["value"], result["error"]) == (False, None, "REMOTE_SET_ERROR")
    assert rig.simulator.state.writes == []


async def test_later_commands_supersede_waiting_ones(rig: Rig) -> None:
    """While a write is in flight, the latest command waits and the ones it replaces are told so."""
    await rig.observer.wait_for_topic(rig.topics.state(FIRST, CHARGE))
    rig.simulator.state.faults.latency_ms = 300
    for value in ("60", "61", "62", "63"):
        await rig.observer.publish(rig.topics.command(FIRST, CHARGE), value)
    results = [seen.json() for seen in await rig.observer.wait_count(rig.result_topic(FIRST, CHARGE), 4)]
    by_request = {result["requested"]: result for result in results}
    assert by_request["60"]["ok"] is True
    assert by_request["61"]["error"] == "superseded by a later command (62)"
    assert by_request["62"]["error"] == "superseded by a later command (63)"
    assert (by_request["63"]["ok"], by_request["63"]["value"]) == (True, 63)
    assert [write[2] for write in rig.simulator.state.writes] == ["60", "63"]
    await rig.observer.wait_for_topic(rig.topics.state(FIRST, CHARGE), "63")


async def test_a_burst_of_writes_causes_one_refresh_of_every_inverter(broker: Broker) -> None:
    """Writes to both inverters within the coalescing window lead to one read of every inverter's windows."""
    async with run_simulator(SimulatorState(inverter_count=2)) as simulator:
        topics = unique_topics()
        async with observing(broker.port, f"{topics.base}/#") as observer:
            settings = bridge_settings(simulator, broker.port, topics, write_refresh_seconds=2)
            async with running_bridge(settings):
                reads_at_start = simulator.state.requests[READ]
                assert reads_at_start == 6  # three windows for each of two inverters
                for serial in (FIRST, SECOND):
                    for path in (CHARGE, DISCHARGE):
                        await observer.publish(topics.command(serial, path), "70")
                for serial in (FIRST, SECOND):
                    for path in (CHARGE, DISCHARGE):
                        result = (await observer.wait_for_topic(topics.result(serial, path))).json()
                        assert result["ok"] is True
                simulator.state.inverters[SECOND].values["HOLD_LEAD_ACID_CHARGE_RATE"] = "55"  # set elsewhere
                await observer.wait_for_topic(topics.state(SECOND, CHARGE), "55", within=5)
                await asyncio.sleep(2.5)
                read_backs = 4  # one window read after each write, to confirm it
                assert simulator.state.requests[READ] == reads_at_start + read_backs + 6


async def test_discovery_configs_field_by_field(rig: Rig) -> None:
    """One retained device config per inverter carries every entity (`cmps`) and the origin."""
    seen = await rig.observer.wait_for_topic(f"{rig.topics.discovery_prefix}/device/eg4_{FIRST}/config")
    base = rig.topics.base
    config = seen.json()
    assert config["device"] == {
        "identifiers": [f"eg4_{FIRST}"],
        "name": f"EG4 18KPV {FIRST}",
        "manufacturer": "EG4 Electronics",
        "model": "18KPV",
        "serial_number": FIRST,
        "sw_version": "fAAB-2122",
    }
    assert config["availability"] == [
        {"topic": f"{base}/bridge/status", "payload_available": "online", "payload_not_available": "offline"},
        {
            "topic": f"{base}/{FIRST}/availability",
            "payload_available": "online",
            "payload_not_available": "offline",
        },
    ]
    assert (config["availability_mode"], config["qos"]) == ("all", 1)
    assert config["origin"] == {
        "name": "eg4-mqtt-bridge",
        "sw_version": __version__,
        "support_url": PROJECT_URL,
    }
    components = config["cmps"]
    assert components["battery_charge_current"] == {
        "platform": "number",
        "name": "Battery Charge Current",
        "unique_id": f"eg4_{FIRST}_battery_charge_current",
        "command_topic": f"{base}/{FIRST}/battery/charge_current/set",
        "state_topic": f"{base}/{FIRST}/battery/charge_current/state",
        "min": 0,
        "max": 250,
        "step": 1,
        "mode": "box",
        "unit_of_measurement": "A",
        "device_class": "current",
        "icon": "mdi:battery-plus",
        "entity_category": "config",
        "retain": False,
    }
    assert components["ac_charge_power"] | {"unique_id": None} == {
        "platform": "number",
        "name": "AC Charge Power",
        "unique_id": None,
        "command_topic": f"{base}/{FIRST}/ac_charge/power/set",
        "state_topic": f"{base}/{FIRST}/ac_charge/power/state",
        "min": 0,
        "max": 15,
        "step": 0.1,
        "mode": "box",
        "unit_of_measurement": "kW",
        "device_class": "power",
        "icon": "mdi:transmission-tower-import",
        "entity_category": "config",
        "retain": False,
    }
    switch = components["ac_charge_enabled"]
    assert (switch["platform"], switch["payload_on"], switch["state_off"]) == ("switch", "ON", "OFF")
    window = components["ac_charge_window_1"]
    assert (window["platform"], window["pattern"], window["command_topic"]) == (
        "text",
        "^[0-9]{1,2}:[0-9]{2}-[0-9]{1,2}:[0-9]{2}$",
        f"{base}/{FIRST}/ac_charge/window_1/set",
    )
    soc = components["soc"]
    assert (soc["platform"], soc["device_class"], soc["unit_of_measurement"], soc["state_class"]) == (
        "sensor",
        "battery",
        "%",
        "measurement",
    )
    assert components["energy_pv_total"]["state_class"] == "total_increasing"
    assert "eps_enabled" not in components, "a protection setting is announced only when exposed"


async def test_the_first_release_entities_are_migrated_keeping_their_ids_once(broker: Broker) -> None:
    """Per-entity configs of the first release, found retained on the broker: migrate_discovery (not
    retained), then the device config with the same unique ids, then the old topics emptied, in that order.
    Only configs that exist are migrated, and only once: a second start migrates nothing (Home Assistant
    warns about every migration it receives)."""
    topics = unique_topics()
    prefix = topics.discovery_prefix
    old = f"{prefix}/number/eg4_{FIRST}/battery_charge_current/config"
    never = f"{prefix}/sensor/eg4_{FIRST}/soc/config"  # not on this broker: never migrated
    device = f"{prefix}/device/eg4_{FIRST}/config"
    async with observing(broker.port) as first_release:
        await first_release.publish(old, '{"name": "Battery Charge Current"}', retain=True)
    async with run_simulator(SimulatorState(inverter_count=2)) as simulator:
        for start in (1, 2):
            async with observing(broker.port, f"{prefix}/#") as observer:
                settings = bridge_settings(simulator, broker.port, topics)
                async with running_bridge(settings):
                    await observer.wait_for_topic(device)
                    await asyncio.sleep(0.3)
                if start == 1:
                    order = [
                        seen for seen in observer.messages if seen.topic in (old, device) and not seen.retain
                    ]
                    assert [
                        (seen.topic, seen.payload if seen.topic == old else "config") for seen in order[:3]
                    ] == [
                        (old, '{"migrate_discovery":true}'),
                        (device, "config"),
                        (old, ""),
                    ]
                    assert (
                        order[1].json()["cmps"]["battery_charge_current"]["unique_id"]
                        == f"eg4_{FIRST}_battery_charge_current"
                    )
                else:
                    assert [seen for seen in observer.messages if seen.topic == old] == [], "once"
                assert observer.on(never) == []
    async with observing(broker.port, old, device) as late:  # what the broker keeps: the device config only
        assert (await late.wait_for_topic(device)).retain
        await asyncio.sleep(0.3)
        assert late.on(old) == []


async def test_discovery_is_retained(rig: Rig, broker: Broker) -> None:
    topic = f"{rig.topics.discovery_prefix}/device/eg4_{FIRST}/config"
    await rig.observer.wait_for_topic(topic)
    async with observing(broker.port, topic) as late:
        assert (await late.wait_for_topic(topic)).retain


async def test_home_assistant_birth_resends_discovery_then_states(rig: Rig) -> None:
    config_topic = f"{rig.topics.discovery_prefix}/device/eg4_{FIRST}/config"
    state_topic = rig.topics.state(FIRST, CHARGE)
    await rig.observer.wait_for_topic(state_topic)
    configs, states = len(rig.observer.on(config_topic)), len(rig.observer.on(state_topic))
    await rig.observer.publish(f"{rig.topics.discovery_prefix}/status", "online")
    await rig.observer.wait_count(config_topic, configs + 1)
    await rig.observer.wait_count(state_topic, states + 1)
    order = [seen.topic for seen in rig.observer.messages]
    assert max(i for i, t in enumerate(order) if t == config_topic) < max(
        i for i, t in enumerate(order) if t == state_topic
    )


async def test_session_expiry_mid_run_is_recovered(rig: Rig) -> None:
    """The cloud forgets the session; the next command logs in again once and is written."""
    await rig.observer.wait_for_topic(rig.topics.state(FIRST, CHARGE))
    rig.simulator.state.expire_sessions()
    logins = rig.simulator.state.requests["/WManage/api/login"]
    result = await rig.command(FIRST, CHARGE, "77")
    assert (result["ok"], result["value"]) == (True, 77)
    assert rig.simulator.state.value_of(FIRST, "HOLD_LEAD_ACID_CHARGE_RATE") == "77"
    assert rig.simulator.state.requests["/WManage/api/login"] == logins + 1


async def test_an_inverter_going_offline_and_back(rig: Rig) -> None:
    """Offline: availability says so and values are left as they were; back: online, and fresh values."""
    topics, observer = rig.topics, rig.observer
    await observer.wait_for_topic(topics.availability(FIRST), "online")
    rig.simulator.state.set_offline(FIRST)
    await observer.wait_for_topic(topics.availability(FIRST), "offline", within=5)
    soc_count = len(observer.on(topics.state(FIRST, "battery/soc")))
    await asyncio.sleep(1.5)  # at least one more runtime poll while offline
    assert len(observer.on(topics.state(FIRST, "battery/soc"))) == soc_count, "no zeros, no blanks"
    assert observer.on(topics.availability(SECOND))[-1].payload == "online"
    rig.simulator.state.inverters[FIRST].values["HOLD_LEAD_ACID_CHARGE_RATE"] = "33"  # changed while away
    rig.simulator.state.set_offline(FIRST, lost=False)
    await observer.wait_count(topics.availability(FIRST), 3, within=5)
    assert [seen.payload for seen in observer.on(topics.availability(FIRST))] == [
        "online",
        "offline",
        "online",
    ]
    await observer.wait_for_topic(topics.state(FIRST, CHARGE), "33", within=5)


async def test_a_write_to_an_offline_inverter_reports_the_cloud_error(rig: Rig) -> None:
    rig.simulator.state.set_offline(FIRST)
    result = await rig.command(FIRST, CHARGE, "50")
    assert result["ok"] is False
    assert result["error"] == "DATAFRAME_TIMEOUT (gave up after 4 attempts)"
    assert rig.simulator.state.writes == []


async def test_broker_restart_mid_run_then_a_command_works(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The broker goes away and comes back (losing its retained messages): the bridge reconnects,
    republishes status, states and discovery, and a command sent after reconnection is written."""
    own = Broker(tmp_path_factory.mktemp("restart"))
    own.start()
    try:
        async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
            topics = unique_topics()
            settings = bridge_settings(simulator, own.port, topics)
            async with running_bridge(settings):
                own.stop()
                await asyncio.sleep(1.0)
                own.start()
                async with observing(
                    own.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#"
                ) as observer:
                    await observer.wait_for_topic(topics.bridge_status, "online", within=30)
                    await observer.wait_for_topic(topics.state(FIRST, CHARGE), "25")
                    await observer.wait_for_topic(f"{topics.discovery_prefix}/device/eg4_{FIRST}/config")
                    await observer.publish(topics.command(FIRST, CHARGE), "64")
                    result = (await observer.wait_for_topic(topics.result(FIRST, CHARGE))).json()
                    assert (result["ok"], result["value"]) == (True, 64)
                    assert simulator.state.value_of(FIRST, "HOLD_LEAD_ACID_CHARGE_RATE") == "64"
    finally:
        own.stop()


async def test_clean_shutdown_says_offline(broker: Broker) -> None:
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        topics = unique_topics()
        async with observing(broker.port, f"{topics.base}/bridge/status") as observer:
            async with running_bridge(bridge_settings(simulator, broker.port, topics)) as bridge:
                await observer.wait_for_topic(topics.bridge_status, "online")
                bridge.stop.set()
                await bridge.task
            said_offline = await observer.wait_for_topic(topics.bridge_status, "offline")
            assert said_offline.qos == 1


async def test_a_retained_set_waiting_on_the_broker_is_not_replayed_at_start(broker: Broker) -> None:
    """A stale retained command stored before the bridge connects is refused, never written."""
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        topics = unique_topics()
        async with observing(broker.port, f"{topics.base}/+/+/+/result") as observer:
            await observer.publish(topics.command(FIRST, CHARGE), "99", retain=True)
            async with running_bridge(bridge_settings(simulator, broker.port, topics)):
                result = (await observer.wait_for_topic(topics.result(FIRST, CHARGE))).json()
                assert result["error"] == "retained command ignored: publish /set without the retain flag"
                assert result["requested"] == "99"
            await observer.publish(topics.command(FIRST, CHARGE), "", retain=True)
        assert simulator.state.writes == []


async def test_an_unreachable_cloud_marks_inverters_offline_until_it_answers_again(rig: Rig) -> None:
    """While every request fails, each inverter is offline; when the cloud answers again, online."""
    topics, observer = rig.topics, rig.observer
    await observer.wait_for_topic(topics.availability(SECOND), "online")
    rig.simulator.state.faults.http_500_rate = 1.0
    await observer.wait_for_topic(topics.availability(SECOND), "offline", within=15)
    rig.simulator.state.faults.http_500_rate = 0.0
    await observer.wait_count(topics.availability(SECOND), 3, within=15)
    assert [seen.payload for seen in observer.on(topics.availability(SECOND))] == [
        "online",
        "offline",
        "online",
    ]
