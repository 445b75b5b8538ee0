"""Local control end to end: the bridge reaching inverters through their WiFi dongles (the simulator's dongle
port, over real TCP), with no cloud at all, or with the cloud as the fallback; a real mosquitto carries the
commands and results."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.core.config import Settings
from bridge.service.config_file import settings_from_mapping
from bridge.service.daemon import running_bridge
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from tests.harness import Broker, Observer, free_port, observing, start_bridge_process, unique_topics
from tests.reliability import record

pytestmark = pytest.mark.e2e

PV18K = "4512345600"
FLEXBOSS = "4512345601"


@dataclass
class Rig:
    simulator: RunningSimulator
    observer: Observer
    topics: Any

    @property
    def state(self) -> SimulatorState:
        return self.simulator.state

    async def command(self, serial: str, path: str, payload: str, within: float = 15) -> dict[str, Any]:
        topic = self.topics.result(serial, path)
        before = len(self.observer.on(topic))
        await self.observer.publish(self.topics.command(serial, path), payload)
        answer: dict[str, Any] = (await self.observer.wait_count(topic, before + 1, within))[before].json()
        return answer

    async def next_result(self, serial: str, path: str, count: int, within: float = 30) -> dict[str, Any]:
        answer: dict[str, Any] = (
            await self.observer.wait_count(self.topics.result(serial, path), count, within)
        )[count - 1].json()
        return answer

    async def dongle_faults(self, **faults: Any) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.simulator.base_url}/_sim/dongle_faults", json=faults) as answer:
                assert answer.status == 200, await answer.text()


def local_settings(
    simulator: RunningSimulator,
    port: int,
    topics: Any,
    *,
    transport: str,
    with_cloud: bool,
    dongle_port: int | None = None,
    timeout: float = 2.0,
    control: dict[str, Any] | None = None,
    health: dict[str, Any] | None = None,
    dongle: dict[str, Any] | None = None,
) -> Settings:
    dongle_port = dongle_port or simulator.dongle_port
    document: dict[str, Any] = {
        "transport": transport,
        "mqtt": {"port": port, "base_topic": topics.base, "discovery_prefix": topics.discovery_prefix},
        "polling": {"runtime_seconds": 60, "parameters_seconds": 3600, "write_refresh_seconds": 0.5},
        "control": {"min_write_interval_seconds": 0, "recheck_after_unknown_seconds": 1} | (control or {}),
        "health": health or {},
        "inverters": {
            serial: {
                "dongle": {
                    "host": "127.0.0.1",
                    "port": dongle_port,
                    "serial": simulator.state.dongle_serial(serial),
                    "timeout_seconds": timeout,
                }
                | (dongle or {})
            }
            for serial in (PV18K, FLEXBOSS)
        },
    }
    if with_cloud:
        document["cloud"] = {
            "base_url": simulator.base_url,
            "username": "demo",
            "password": "demo",
            "request_timeout": 5,
        }
    return settings_from_mapping(document, environ={})


@asynccontextmanager
async def rigged(broker: Broker, *, transport: str, with_cloud: bool, **options: Any) -> AsyncIterator[Rig]:
    async with run_simulator(SimulatorState(inverter_count=2), dongle_port=0) as simulator:
        topics = unique_topics()
        settings = local_settings(
            simulator, broker.port, topics, transport=transport, with_cloud=with_cloud, **options
        )
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings):
                await observer.wait_for_topic(f"{topics.discovery_prefix}/device/eg4_{FLEXBOSS}/config")
                yield Rig(simulator, observer, topics)


async def test_with_no_cloud_at_all_the_bridge_reads_and_confirms_a_write_through_the_dongle(
    broker: Broker,
) -> None:
    async with rigged(broker, transport="local", with_cloud=False) as rig:
        topics = rig.topics
        await rig.observer.wait_for_topic(topics.state(PV18K, "battery/charge_current"), "25")
        soc = await rig.observer.wait_for(lambda seen: seen.topic == topics.state(PV18K, "battery/soc"))
        assert 0 < int(soc.payload) <= 100
        result = await rig.command(PV18K, "battery/charge_current", "60")
        assert (result["outcome"], result["confirmed"], result["via"]) == ("accepted", True, "dongle")
        assert rig.state.value_of(PV18K, "HOLD_LEAD_ACID_CHARGE_RATE") == "60"
        await rig.observer.wait_for_topic(topics.state(PV18K, "battery/charge_current"), "60")
        switched = await rig.command(FLEXBOSS, "ac_charge/enabled", "OFF")
        assert (switched["outcome"], switched["via"]) == ("accepted", "dongle")
        window = await rig.command(PV18K, "ac_charge/window_2", "01:30-05:45")
        assert (window["outcome"], window["via"]) == ("accepted", "dongle")
    state = rig.state
    assert state.value_of(FLEXBOSS, "FUNC_AC_CHARGE") is False
    assert state.value_of(FLEXBOSS, "FUNC_EPS_EN") is True  # its neighbour in register 21, kept
    assert [state.value_of(PV18K, f"HOLD_AC_CHARGE_{part}_1") for part in ("START_HOUR", "END_MINUTE")] == [
        "01",
        "45",
    ]
    assert state.writes_by_transport["cloud"] == 0
    assert state.writes_by_transport["dongle"] >= 4
    assert not any(path.startswith("/WManage") for path in state.requests)  # the cloud was never asked
    # The load is the cloud's arithmetic: not announced through the dongle, rather than left unknown.
    device = rig.observer.on(f"{topics.discovery_prefix}/device/eg4_{PV18K}/config")[-1].json()
    announced = set(device["cmps"])
    assert {"load_power", "energy_load_total", "energy_load_today"}.isdisjoint(announced)
    assert {"soc", "pv_power", "battery_power", "energy_pv_total"} <= announced


async def test_settings_with_no_agreed_register_encoding_are_not_offered_locally(broker: Broker) -> None:
    async with rigged(broker, transport="local", with_cloud=False) as rig:
        result = await rig.command(PV18K, "ac_charge/type", "time")
        assert result["outcome"] == "refused"
        assert result["error"] == (
            "AC Charge Type is not offered on 18KPV: the parameters read from it do not include it "
            "(a setting with no agreed register is read and written through the cloud only)"
        )
        device = rig.observer.on(f"{rig.topics.discovery_prefix}/device/eg4_{PV18K}/config")[-1].json()
        offered = " ".join(device["cmps"])
        assert "battery_charge_current" in offered
        assert "ac_charge_type" not in offered
    assert rig.state.writes == []


async def test_hybrid_with_the_dongle_silent_confirms_a_flag_through_the_cloud_and_says_so(
    broker: Broker,
) -> None:
    """A flag's register is read before it is written (its neighbours are kept): a dongle silent at that
    read has been sent nothing, so the write goes through the cloud."""
    async with rigged(broker, transport="hybrid", with_cloud=True, timeout=0.5) as rig:
        local = await rig.command(PV18K, "ac_charge/enabled", "OFF")
        assert (local["outcome"], local["via"]) == ("accepted", "dongle")
        await rig.dongle_faults(silent=True)
        result = await rig.command(PV18K, "ac_charge/enabled", "ON")
        assert (result["outcome"], result["confirmed"], result["via"]) == ("accepted", True, "cloud")
    assert rig.state.value_of(PV18K, "FUNC_AC_CHARGE") is True
    assert rig.state.write_transports[-2:] == ["dongle", "cloud"]
    record(
        "local",
        "hybrid transport with the dongle silent",
        1,
        "the write confirmed through the cloud within the dongle's bound, its result saying via: cloud",
    )


async def test_hybrid_with_the_dongle_silent_at_a_write_says_unknown_and_rechecks_through_the_cloud(
    broker: Broker,
) -> None:
    """A value that fills its register alone is written at once: a dongle silent then may have applied
    it, so it is never sent again; the recheck reads through the cloud while the dongle rests."""
    async with rigged(broker, transport="hybrid", with_cloud=True, timeout=0.5) as rig:
        await rig.dongle_faults(silent=True)
        result = await rig.command(PV18K, "battery/charge_current", "55")
        assert (result["outcome"], result["applied"], result["via"]) == ("unknown", "unknown", "dongle")
        follow_up = await rig.next_result(PV18K, "battery/charge_current", 2)
        assert follow_up["outcome"] == "rechecked"
        assert follow_up["applied"] is False, "the silent dongle applied nothing, and the cloud says so"
    assert rig.state.writes_by_transport["cloud"] == 0


@pytest.mark.parametrize("transport", ["local", "hybrid"])
async def test_a_write_that_times_out_is_unknown_then_rechecked_never_resent(
    broker: Broker, transport: str
) -> None:
    """The dongle applies the write and never answers (the connection stays open): the write may have
    landed, so it is `unknown`, read again later, and never sent again, not through the cloud either."""
    async with rigged(broker, transport=transport, with_cloud=transport == "hybrid", timeout=0.5) as rig:
        await rig.dongle_faults(next={"silence_after_write": 1})
        result = await rig.command(PV18K, "battery/charge_current", "75")
        assert (result["outcome"], result["applied"], result["via"]) == ("unknown", "unknown", "dongle")
        assert "did not answer within 0.5 s" in result["error"]
        follow_up = await rig.next_result(PV18K, "battery/charge_current", 2)
        assert (follow_up["outcome"], follow_up["confirmed"], follow_up["found"]) == ("rechecked", True, 75)
    assert [write for write in rig.state.writes if write[1] == "HOLD_LEAD_ACID_CHARGE_RATE"] == [
        (PV18K, "HOLD_LEAD_ACID_CHARGE_RATE", "75")
    ]
    assert rig.state.writes_by_transport["cloud"] == 0


@pytest.mark.parametrize("transport", ["local", "hybrid"])
async def test_a_connection_dropped_mid_write_is_unknown_then_rechecked_never_resent(
    broker: Broker, transport: str
) -> None:
    # With hybrid too: a write that may have reached the inverter is never sent again through the cloud.
    async with rigged(broker, transport=transport, with_cloud=transport == "hybrid") as rig:
        await rig.dongle_faults(next={"drop_mid_write": 1})
        result = await rig.command(PV18K, "battery/charge_current", "70")
        assert (result["outcome"], result["applied"], result["via"]) == ("unknown", "unknown", "dongle")
        follow_up = await rig.next_result(PV18K, "battery/charge_current", 2)
        assert (follow_up["outcome"], follow_up["confirmed"]) == ("rechecked", True)
    assert [write for write in rig.state.writes if write[1] == "HOLD_LEAD_ACID_CHARGE_RATE"] == [
        (PV18K, "HOLD_LEAD_ACID_CHARGE_RATE", "70")
    ]
    record(
        "local",
        "dongle connection dropped mid-write",
        1,
        "applied by the dongle, answered unknown, never sent again, read back as applied after the recheck",
    )


async def test_heartbeats_misrouted_replies_and_exception_replies_are_told_apart(broker: Broker) -> None:
    async with rigged(broker, transport="local", with_cloud=False) as rig:
        await rig.dongle_faults(next={"heartbeat_first": 1, "misrouted_reply": 1})  # the write, its read-back
        result = await rig.command(PV18K, "battery/discharge_current", "30")
        assert (result["outcome"], result["confirmed"]) == ("accepted", True)
        # The exception answers the write itself: a poll or the write's pre-read cannot take it first.
        await rig.dongle_faults(next={"exception_on_write": 1})
        refused = await rig.command(PV18K, "battery/discharge_current", "35")
        assert refused["outcome"] == "failed"
        assert "Modbus exception 4" in refused["error"]
        assert refused["applied"] is False
    assert rig.state.value_of(PV18K, "HOLD_LEAD_ACID_DISCHARGE_RATE") == "30"
    record(
        "local",
        "heartbeats, misrouted replies and exception replies from the dongle",
        3,
        "heartbeats and another inverter's replies skipped; an exception reply failed the command, nothing sent again",
    )


async def test_a_value_outside_the_settings_range_never_reaches_the_dongle(broker: Broker) -> None:
    async with rigged(broker, transport="local", with_cloud=False) as rig:
        result = await rig.command(PV18K, "battery/discharge_cutoff_soc", "95")  # 10 to 90
        assert (result["outcome"], result["applied"]) == ("refused", False)
        assert "via" not in result
    assert rig.state.requests["dongle:write"] == 0


@pytest.mark.parametrize("with_cloud", [False, True])
async def test_local_with_the_dongle_unreachable_fails_and_never_falls_back(
    broker: Broker, with_cloud: bool
) -> None:
    async with run_simulator(SimulatorState(inverter_count=2), dongle_port=0) as simulator:
        topics = unique_topics()
        settings = local_settings(
            simulator,
            broker.port,
            topics,
            transport="local",
            with_cloud=with_cloud,
            dongle_port=free_port(),  # nothing listens there
            timeout=0.5,
        )
        async with observing(broker.port, f"{topics.base}/#") as observer:
            async with running_bridge(settings):
                await observer.wait_for_topic(topics.availability(PV18K), "offline", within=20)
                await observer.publish(topics.command(PV18K, "battery/charge_current"), "60")
                answer = (await observer.wait_count(topics.result(PV18K, "battery/charge_current"), 1))[0]
    result = answer.json()
    assert (result["outcome"], result["applied"], result["via"]) == ("failed", False, "dongle"), result
    assert "cannot connect to the dongle" in result["error"]
    assert simulator.state.writes == []


async def test_sim_devices_lists_each_inverter_with_its_dongle_serial(simulator: RunningSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{simulator.base_url}/_sim/devices") as answer:
            devices = (await answer.json())["devices"]
    assert [(device["serial"], device["dongle_serial"]) for device in devices] == [
        (serial, simulator.state.dongle_serial(serial)) for serial in simulator.state.inverters
    ]
    assert all(len(device["dongle_serial"]) == 10 for device in devices)


async def test_the_commands_as_shipped_serve_dongles_and_run_a_bridge_with_no_cloud_section(
    broker: Broker, tmp_path: Path
) -> None:
    """`eg4-bridge simulator --dongle-port` and `eg4-bridge run` with a config holding no `cloud` at all,
    each in its own process, as a user would start them."""
    dongle_port = free_port()
    simulator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.service.cli", "simulator", "--port", str(free_port()),
        "--dongle-port", str(dongle_port), "--inverters", "1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    drained: asyncio.Task[bytes] | None = None
    try:
        assert simulator.stdout is not None
        lines = [(await asyncio.wait_for(simulator.stdout.readline(), 20)).decode() for _ in range(2)]
        assert lines[1].strip() == f"simulated dongles at 127.0.0.1:{dongle_port}"
        # Whatever else it prints is read, so that a full pipe never blocks it (and its exit on SIGINT).
        drained = asyncio.create_task(simulator.stdout.read())
        topics = unique_topics()
        config = tmp_path / "config.yaml"
        config.write_text(
            f"transport: local\n"
            f"mqtt: {{port: {broker.port}, base_topic: {topics.base}}}\n"
            f"control: {{min_write_interval_seconds: 0}}\n"
            f'inverters:\n  "{PV18K}": {{dongle: {{host: 127.0.0.1, port: {dongle_port}, serial: BA12345600}}}}\n'
        )
        async with observing(broker.port, f"{topics.base}/#") as observer:
            bridge = await start_bridge_process(config)
            try:
                await observer.wait_for_topic(topics.state(PV18K, "battery/charge_current"), "25", within=20)
                await observer.publish(topics.command(PV18K, "battery/charge_current"), "90")
                seen = await observer.wait_for_topic(topics.result(PV18K, "battery/charge_current"))
                result = seen.json()
                assert (result["outcome"], result["confirmed"], result["via"]) == ("accepted", True, "dongle")
                await observer.wait_for_topic(topics.state(PV18K, "battery/charge_current"), "90")
            finally:
                bridge.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bridge.communicate(), timeout=30)
        assert bridge.returncode == 0
    finally:
        simulator.send_signal(signal.SIGINT)
        await asyncio.wait_for(simulator.wait(), timeout=20)
        if drained is not None:
            await drained


async def test_hybrid_writes_settings_with_no_register_encoding_through_the_cloud(broker: Broker) -> None:
    async with rigged(broker, transport="hybrid", with_cloud=True) as rig:
        await rig.observer.wait_for_topic(rig.topics.state(PV18K, "ac_charge/type"), "time")
        result = await rig.command(PV18K, "ac_charge/type", "soc_volt")
        assert (result["outcome"], result["confirmed"], result["via"]) == ("accepted", True, "cloud")
        current = await rig.command(PV18K, "battery/charge_current", "45")
        assert current["via"] == "dongle"
    assert rig.state.write_transports == ["cloud", "dongle"]


async def test_the_status_page_and_metrics_show_the_dongles(broker: Broker) -> None:
    port = free_port()
    health = {"enabled": True, "port": port}
    async with rigged(broker, transport="local", with_cloud=False, health=health) as rig:
        await rig.command(PV18K, "battery/charge_current", "50")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
                metrics = await answer.text()
            async with http.get(f"http://127.0.0.1:{port}/") as answer:
                page = await answer.text()
    requests = next(
        line
        for line in metrics.splitlines()
        if line.startswith(f'eg4_bridge_local_requests_total{{serial="{PV18K}",transport="dongle"}}')
    )
    assert (
        float(requests.split()[-1]) >= 4
    )  # the settings, runtime and energy reads, the write and its read-back
    assert "eg4_bridge_local_reconnects_total" in metrics
    assert page.count("through its dongle") == 2


@pytest.mark.parametrize("firmware_takes", [127, 40])
async def test_larger_reads_are_used_where_the_firmware_takes_them_and_40_where_not(
    broker: Broker, firmware_takes: int
) -> None:
    state = SimulatorState(inverter_count=2)
    state.dongle_faults.max_read = firmware_takes
    async with run_simulator(state, dongle_port=0) as simulator:
        topics = unique_topics()
        settings = local_settings(
            simulator, broker.port, topics, transport="local", with_cloud=False, dongle={"max_block": 125}
        )
        async with observing(broker.port, f"{topics.base}/#") as observer:
            async with running_bridge(settings):
                await observer.wait_for_topic(topics.state(PV18K, "battery/charge_current"), "25")
                await observer.wait_for_topic(topics.state(FLEXBOSS, "battery/soc"), None)
                reads_after_start = (
                    state.requests["dongle:read_input"] + state.requests["dongle:read_holding"]
                )
                await observer.publish(topics.command(PV18K, "battery/charge_current"), "33")
                result = (await observer.wait_count(topics.result(PV18K, "battery/charge_current"), 1))[0]
    assert (result.json()["outcome"], result.json()["confirmed"]) == ("accepted", True)
    # Per inverter: its family (register 19, read alone once), runtime (registers 1-82), energy (28-59),
    # settings (0-274) and the battery slots (5002-5121). In reads of 125 that is 1 + 1 + 1 + 3 + 1; in
    # reads of 40, 1 + 2 + 1 + 6 and a slot a read (4), after one to three refused larger reads (the
    # runtime's, the settings' and the batteries', when they were planned before the first refusal came
    # back).
    if firmware_takes == 127:
        assert reads_after_start == 2 * (1 + 1 + 1 + 3 + 1)
    else:
        assert 2 * (1 + 2 + 1 + 6 + 4) + 2 <= reads_after_start <= 2 * (1 + 2 + 1 + 6 + 4) + 2 * 3


async def test_hybrid_tries_the_dongle_again_once_it_has_rested(broker: Broker) -> None:
    dongle = {"rest_seconds": 2.0}
    async with rigged(broker, transport="hybrid", with_cloud=True, timeout=0.5, dongle=dongle) as rig:
        await rig.dongle_faults(silent=True)
        during = await rig.command(PV18K, "ac_charge/enabled", "ON")  # read first: silent, so the cloud
        await rig.dongle_faults(silent=False)
        resting = await rig.command(PV18K, "battery/charge_current", "42")  # within the rest: the cloud
        await asyncio.sleep(2.2)
        after = await rig.command(PV18K, "battery/charge_current", "43")
    assert [(result["via"], result["confirmed"]) for result in (during, resting, after)] == [
        ("cloud", True),
        ("cloud", True),
        ("dongle", True),
    ]
    assert rig.state.write_transports == ["cloud", "cloud", "dongle"]


async def test_local_with_a_cloud_account_refuses_to_start_for_an_inverter_with_no_dongle(
    broker: Broker,
) -> None:
    """docs/LOCAL.md promises that with `local` nothing goes to the cloud: an account inverter with no dongle
    named would be written through the cloud all the same, so the bridge does not start, naming it."""
    from bridge.core.errors import NoLocalTransportError
    from bridge.service.daemon import run_bridge

    async with run_simulator(SimulatorState(inverter_count=3), dongle_port=0) as simulator:
        settings = local_settings(simulator, broker.port, unique_topics(), transport="local", with_cloud=True)
        with pytest.raises(NoLocalTransportError) as refused:
            await asyncio.wait_for(run_bridge(settings, asyncio.Event()), 20)
        assert "the cloud account's 4512345602 has no dongle under inverters" in str(refused.value)
        assert simulator.state.writes == []


async def test_a_wrong_dongle_serial_is_named_as_such(broker: Broker) -> None:
    """A serial in the config that is not the dongle's own looks like a dongle that does not answer: the
    result says what the dongle calls itself instead."""
    async with run_simulator(SimulatorState(inverter_count=2), dongle_port=0) as simulator:
        topics = unique_topics()
        settings = local_settings(
            simulator, broker.port, topics, transport="local", with_cloud=False, timeout=0.5
        )
        dongle = settings.inverters[PV18K].dongle
        assert dongle is not None
        wrong = settings.inverters[PV18K].model_copy(
            update={"dongle": dongle.model_copy(update={"serial": "BA00000000"})}
        )
        settings = settings.model_copy(update={"inverters": settings.inverters | {PV18K: wrong}})
        async with observing(broker.port, f"{topics.base}/#") as observer, running_bridge(settings) as bridge:
            await observer.wait_for_topic(topics.availability(FLEXBOSS), "online")
            reason = bridge.coordinator.fleet[PV18K].last_error or ""
    assert reason == (
        f"the dongle at 127.0.0.1:{simulator.dongle_port} says its serial is BA12345600; the config says "
        "BA00000000 (dongle.serial is the dongle's own, on its label)"
    )


@asynccontextmanager
async def through_adapters(
    broker: Broker, *, transport: str, with_cloud: bool, answer_within: float = 1.0, rtu: bool = False
) -> AsyncIterator[Rig]:
    """The inverters reached through RS485 adapters (the simulator's), no dongle at all: Modbus TCP, or with
    `rtu` Modbus RTU on a pseudo-terminal."""
    async with run_simulator(SimulatorState(inverter_count=2), modbus_port=0, rtu=rtu) as simulator:
        topics = unique_topics()
        where: dict[str, Any] = (
            {"device": simulator.rtu_device} if rtu else {"host": "127.0.0.1", "port": simulator.modbus_port}
        )
        document: dict[str, Any] = {
            "transport": transport,
            "mqtt": {
                "port": broker.port,
                "base_topic": topics.base,
                "discovery_prefix": topics.discovery_prefix,
            },
            "polling": {"runtime_seconds": 60, "parameters_seconds": 3600, "write_refresh_seconds": 0.5},
            "control": {"min_write_interval_seconds": 0, "recheck_after_unknown_seconds": 1},
            "inverters": {
                serial: {"modbus": where | {"unit": unit, "timeout_seconds": answer_within}}
                for unit, serial in enumerate((PV18K, FLEXBOSS), start=1)
            },
        }
        if with_cloud:
            document["cloud"] = {"base_url": simulator.base_url, "username": "demo", "password": "demo"}
        settings = settings_from_mapping(document, environ={})
        async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
            async with running_bridge(settings):
                await observer.wait_for_topic(f"{topics.discovery_prefix}/device/eg4_{FLEXBOSS}/config")
                yield Rig(simulator, observer, topics)


async def test_with_only_a_modbus_tcp_adapter_a_write_is_confirmed_and_the_cloud_never_asked(
    broker: Broker,
) -> None:
    async with through_adapters(broker, transport="local", with_cloud=False) as rig:
        await rig.observer.wait_for_topic(rig.topics.state(PV18K, "battery/charge_current"), "25")
        result = await rig.command(PV18K, "battery/charge_current", "66")
        assert (result["outcome"], result["confirmed"], result["via"]) == ("accepted", True, "modbus_tcp")
        window = await rig.command(FLEXBOSS, "ac_charge/window_1", "02:15-05:30")
        assert (window["outcome"], window["via"]) == ("accepted", "modbus_tcp")
        device = rig.observer.on(f"{rig.topics.discovery_prefix}/device/eg4_{FLEXBOSS}/config")[-1].json()
        assert device["device"]["model"] == "FlexBOSS21", "named from its registers through the adapter"
    state = rig.state
    assert state.value_of(PV18K, "HOLD_LEAD_ACID_CHARGE_RATE") == "66"
    assert [state.value_of(FLEXBOSS, f"HOLD_AC_CHARGE_{part}") for part in ("START_HOUR", "END_MINUTE")] == [
        "02",
        "30",
    ]
    assert state.writes_by_transport["modbus_tcp"] >= 3
    assert state.writes_by_transport["cloud"] == 0
    assert not any(path.startswith("/WManage") for path in state.requests), "the cloud was never asked"


async def test_hybrid_falls_back_to_the_cloud_when_the_adapter_is_silent(broker: Broker) -> None:
    async with through_adapters(broker, transport="hybrid", with_cloud=True, answer_within=0.5) as rig:
        await rig.dongle_faults(silent=True)
        result = await rig.command(PV18K, "ac_charge/enabled", "ON")  # its register is read first
        assert (result["outcome"], result["confirmed"], result["via"]) == ("accepted", True, "cloud")
    assert rig.state.value_of(PV18K, "FUNC_AC_CHARGE") is True
    assert rig.state.writes_by_transport["modbus_tcp"] == 0


async def test_an_adapter_write_that_gets_no_answer_is_unknown_then_rechecked(broker: Broker) -> None:
    async with through_adapters(broker, transport="local", with_cloud=False, answer_within=0.5) as rig:
        await rig.dongle_faults(next={"silence_after_write": 1})
        result = await rig.command(PV18K, "battery/charge_current", "77")
        assert (result["outcome"], result["applied"], result["via"]) == ("unknown", "unknown", "modbus_tcp")
        follow_up = await rig.next_result(PV18K, "battery/charge_current", 2)
        assert (follow_up["outcome"], follow_up["found"]) == ("rechecked", 77)
        await rig.dongle_faults(next={"exception_on_write": 1})
        refused = await rig.command(PV18K, "battery/charge_current", "78")
        assert (refused["outcome"], refused["applied"]) == ("failed", False)
        assert "Modbus exception 4" in refused["error"]
    assert [w for w in rig.state.writes if w[1] == "HOLD_LEAD_ACID_CHARGE_RATE"] == [
        (PV18K, "HOLD_LEAD_ACID_CHARGE_RATE", "77")
    ]


async def test_through_a_usb_rs485_adapter_in_modbus_rtu_a_write_is_confirmed(broker: Broker) -> None:
    """Modbus RTU on a pseudo-terminal, as a USB-RS485 adapter's /dev/ttyUSB0: read, written, read back."""
    async with through_adapters(broker, transport="local", with_cloud=False, rtu=True) as rig:
        await rig.observer.wait_for_topic(rig.topics.state(FLEXBOSS, "battery/charge_current"), "250")
        result = await rig.command(PV18K, "battery/charge_current", "55")
        assert (result["outcome"], result["confirmed"], result["via"]) == ("accepted", True, "modbus_rtu")
    assert rig.state.value_of(PV18K, "HOLD_LEAD_ACID_CHARGE_RATE") == "55"
    assert rig.state.writes_by_transport["modbus_rtu"] == 1
    assert not any(path.startswith("/WManage") for path in rig.state.requests)


@pytest.mark.parametrize(
    ("device", "words"),
    [
        ("/dev/ttyUSB97", "there is no serial device /dev/ttyUSB97: is the USB-RS485 adapter plugged in"),
        ("unreadable", "permission denied on"),
    ],
)
async def test_a_serial_device_that_cannot_be_used_is_said_in_words(
    broker: Broker, tmp_path: Path, device: str, words: str
) -> None:
    if device == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root may open any file: permission cannot be refused here")
        path = tmp_path / "ttyUSB0"
        path.write_text("")
        path.chmod(0)
        device = str(path)
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        topics = unique_topics()
        document = {
            "transport": "local",
            "mqtt": {
                "port": broker.port,
                "base_topic": topics.base,
                "discovery_prefix": topics.discovery_prefix,
            },
            "inverters": {PV18K: {"modbus": {"device": device}}},
        }
        settings = settings_from_mapping(document, environ={})
        async with observing(broker.port, f"{topics.base}/#") as observer, running_bridge(settings) as bridge:
            await observer.wait_for_topic(topics.availability(PV18K), "offline")
            assert words in (bridge.coordinator.fleet[PV18K].last_error or "")
        assert simulator.state.writes == []
