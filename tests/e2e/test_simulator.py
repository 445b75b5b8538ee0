"""The simulator's own behaviour: runtime that moves plausibly, register windows, write rules, and its
dongles' way of greeting a client."""

from __future__ import annotations

import asyncio

import pytest

from bridge.simulator import SimulatorState, run_simulator
from bridge.transports.local import frames
from bridge.transports.local.frames import ModbusFunction, TcpFunction

pytestmark = pytest.mark.e2e

SERIAL = "4512345600"


def test_soc_follows_charge_and_discharge() -> None:
    """Charging raises SOC over time; with no PV the battery discharges and SOC falls."""
    state = SimulatorState(inverter_count=1)
    inverter = state.inverters[SERIAL]
    inverter.soc = 50.0
    inverter.pv_peak_w = 40_000  # far more than the load: the battery charges at its limit
    inverter.last_update = 1800.0  # midday of the simulated hour-long day
    inverter.advance(1800.001)
    inverter.advance(1800.0 + 600)
    charged = inverter.soc
    assert charged > 50.0
    assert inverter.powers["pCharge"] > 0
    inverter.pv_peak_w = 0
    inverter.advance(inverter.last_update + 0.001)
    inverter.advance(inverter.last_update + 600)
    assert inverter.soc < charged
    assert inverter.powers["pDisCharge"] > 0
    assert inverter.powers["ppv"] == 0


def test_charge_power_follows_the_held_charge_current() -> None:
    """The held HOLD_LEAD_ACID_CHARGE_RATE caps the charge power: a write changes what the battery takes."""
    state = SimulatorState(inverter_count=1)
    inverter = state.inverters[SERIAL]
    inverter.pv_peak_w = 40_000
    inverter.soc = 50.0
    inverter.last_update = 1800.0
    assert state.write(SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "10") is None
    inverter.advance(inverter.last_update + 0.001)
    low = inverter.powers["pCharge"]
    assert state.write(SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "50") is None
    inverter.advance(inverter.last_update + 0.001)
    assert inverter.powers["pCharge"] > low * 4


def test_windows_hold_exactly_the_registers_inside_them() -> None:
    state = SimulatorState(inverter_count=1)
    first = state.read_window(SERIAL, 0, 127)
    second = state.read_window(SERIAL, 127, 127)
    third = state.read_window(SERIAL, 240, 127)
    assert "HOLD_LEAD_ACID_CHARGE_RATE" in first
    assert "HOLD_LEAD_ACID_CHARGE_RATE" not in second
    assert "HOLD_SYSTEM_CHARGE_SOC_LIMIT" in second
    assert "HOLD_UVF_DERATE_START_POINT" in second  # its block starts at 126 but its register is 134
    assert all(isinstance(value, bool) for name, value in first.items() if name.startswith("FUNC_"))
    assert set(first) | set(second) | set(third) == set(state.inverters[SERIAL].values)


def test_write_rules() -> None:
    state = SimulatorState(inverter_count=1)
    assert state.write(SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "250") is None
    assert state.write(SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "251") == "REMOTE_SET_ERROR"
    assert state.write(SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "1.5") == "REMOTE_SET_ERROR"
    assert state.write(SERIAL, "HOLD_AC_CHARGE_POWER_CMD", "7.25") == "REMOTE_SET_ERROR"
    assert state.write(SERIAL, "HOLD_AC_CHARGE_POWER_CMD", "7.2") is None
    assert state.write(SERIAL, "FUNC_AC_CHARGE", "1") == "REMOTE_SET_ERROR"
    assert state.write(SERIAL, "HOLD_NOPE", "1") == "REMOTE_SET_ERROR"
    assert state.write(SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "NaN") == "REMOTE_SET_ERROR"
    assert state.writes == [
        (SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "250"),
        (SERIAL, "HOLD_AC_CHARGE_POWER_CMD", "7.2"),
    ]


def test_models_and_serials_are_realistic() -> None:
    state = SimulatorState(inverter_count=4, gridboss=True)
    models = [inverter.model for inverter in state.inverters.values()]
    assert models == ["18KPV", "FlexBOSS21", "12KPV", "18KPV", "Grid Boss"]
    assert all(len(serial) == 10 and serial.isdigit() for serial in state.inverters)


async def test_every_answer_carries_every_field_a_real_one_does() -> None:
    """Login, runtime online and offline: each simulated answer has at least the keys of the answer captured
    from a real account (tests/fixtures), so a strict client such as pylxpweb's models accepts it."""
    import json
    from pathlib import Path

    import aiohttp

    from bridge.simulator import run_simulator

    fixtures = Path(__file__).parents[1] / "fixtures"

    def keys(name: str) -> set[str]:
        return set(json.loads((fixtures / name).read_text()))

    state = SimulatorState(inverter_count=2, gridboss=True)
    async with (
        run_simulator(state) as simulator,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):

        async def post(path: str, **form: str) -> dict[str, object]:
            async with session.post(simulator.base_url + path, data=form) as answer:
                payload: dict[str, object] = await answer.json()
                return payload

        login = await post("/WManage/api/login", account="demo", password="demo")
        assert keys("login_answer.json") - set(login) == set()
        online = await post("/WManage/api/inverter/getInverterRuntime", serialNum=SERIAL)
        assert keys("runtime_answer.json") - set(online) == set()
        state.set_offline(SERIAL)
        offline = await post("/WManage/api/inverter/getInverterRuntime", serialNum=SERIAL)
        assert keys("runtime_offline_answer.json") - set(offline) == set()
        gridboss = await post(
            "/WManage/web/maintain/remoteRead/read",
            inverterSn="4812345602",
            startRegister="2032",
            pointNumber="127",
        )
        assert (gridboss["success"], gridboss["startRegister"]) == (True, 2032)


def test_the_simulators_other_writes_keep_the_register_map_consistent() -> None:
    """functionControl sets a FUNC_ flag, bitParamControl a BIT_ field, writeTime an hour and a minute at
    once, and schedule writes store two digits, as the real cloud does; names a model lacks are refused."""
    state = SimulatorState(inverter_count=1)
    values = state.inverters[SERIAL].values
    assert state.set_function(SERIAL, "FUNC_AC_CHARGE", False) is None
    assert values["FUNC_AC_CHARGE"] is False
    assert state.set_function(SERIAL, "FUNC_NOT_A_FUNCTION", True) == "REMOTE_SET_ERROR"
    assert state.set_function(SERIAL, "HOLD_AC_CHARGE_POWER_CMD", True) == "REMOTE_SET_ERROR"
    assert state.set_bits(SERIAL, "BIT_AC_CHARGE_TYPE", 2) is None
    assert values["BIT_AC_CHARGE_TYPE"] == 2
    assert state.set_bits(SERIAL, "BIT_AC_CHARGE_TYPE", 16) == "REMOTE_SET_ERROR"
    assert state.write_time(SERIAL, "HOLD_OFF_GRID_START_TIME_1", 7, 5) is None
    assert (values["HOLD_OFF_GRID_START_HOUR_1"], values["HOLD_OFF_GRID_START_MINUTE_1"]) == ("07", "05")
    assert state.write_time(SERIAL, "HOLD_OFF_GRID_START_TIME_1", 24, 0) == "REMOTE_SET_ERROR"
    assert state.write_time(SERIAL, "HOLD_NOWHERE_TIME_1", 1, 0) == "REMOTE_SET_ERROR"
    assert state.write(SERIAL, "HOLD_AC_CHARGE_START_HOUR_1", "3") is None
    assert values["HOLD_AC_CHARGE_START_HOUR_1"] == "03"
    assert state.write(SERIAL, "HOLD_AC_CHARGE_START_MINUTE_1", "60") == "REMOTE_SET_ERROR"
    assert state.write(SERIAL, "HOLD_AC_CHARGE_START_HOUR_1", "2.5") == "REMOTE_SET_ERROR"


def test_energy_counters_grow_with_the_simulated_powers() -> None:
    state = SimulatorState(inverter_count=1)
    inverter = state.inverters[SERIAL]
    inverter.pv_peak_w = 40_000
    inverter.last_update = 1800.0
    inverter.advance(1800.001)
    before = inverter.energy_tenths()
    inverter.advance(1800.0 + 3600)
    after = inverter.energy_tenths()
    assert after["todayYielding"] > before["todayYielding"]
    assert after["totalYielding"] - after["todayYielding"] == 128_405  # the history before, in tenths of kWh
    assert set(after) == {
        f"{period}{name}"
        for period in ("today", "total")
        for name in ("Yielding", "Charging", "Discharging", "Import", "Export", "Usage")
    }


async def test_the_remote_set_endpoints_check_their_form_over_http() -> None:
    """functionControl, bitParamControl and writeTime answer as the cloud does: success once applied,
    PARAM_ERROR for a malformed field or a missing clientType, DATAFRAME_TIMEOUT while the inverter is lost."""
    import aiohttp

    from bridge.simulator import run_simulator

    state = SimulatorState(inverter_count=1)
    base = {"inverterSn": SERIAL, "clientType": "WEB", "remoteSetType": "NORMAL"}
    async with (
        run_simulator(state) as simulator,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):
        await session.post(
            simulator.base_url + "/WManage/api/login", data={"account": "demo", "password": "demo"}
        )

        async def post(endpoint: str, **form: str) -> object:
            async with session.post(
                f"{simulator.base_url}/WManage/web/maintain/remoteSet/{endpoint}", data=form
            ) as r:
                return (await r.json()).get("msg", "ok")

        assert (
            await post("writeTime", **base, timeParam="HOLD_OFF_GRID_END_TIME_2", hour="6", minute="30")
            == "ok"
        )
        assert state.value_of(SERIAL, "HOLD_OFF_GRID_END_HOUR_2") == "06"
        assert await post(
            "writeTime", **base, timeParam="HOLD_OFF_GRID_END_TIME_2", hour="x", minute="0"
        ) == ("PARAM_ERROR")
        assert (
            await post("functionControl", **base, functionParam="FUNC_EPS_EN", enable="maybe")
            == "PARAM_ERROR"
        )
        assert await post("functionControl", **base, functionParam="FUNC_EPS_EN", enable="false") == "ok"
        assert await post("bitParamControl", **base, bitParam="BIT_AC_CHARGE_TYPE", value="9") == "ok"
        assert (
            await post("bitParamControl", **base, bitParam="BIT_AC_CHARGE_TYPE", value="99")
            == "REMOTE_SET_ERROR"
        )
        assert await post("bitParamControl", inverterSn=SERIAL, bitParam="BIT_AC_CHARGE_TYPE", value="1") == (
            "PARAM_ERROR"
        )
        state.set_offline(SERIAL)
        assert (
            await post("functionControl", **base, functionParam="FUNC_EPS_EN", enable="true")
            == "DATAFRAME_TIMEOUT"
        )
    assert state.value_of(SERIAL, "FUNC_EPS_EN") is False


async def test_a_tls_probe_is_answered_with_a_heartbeat_and_plain_frames_still_work() -> None:
    """Newer clients first try TLS on port 8000; a plain-frame dongle answers with a heartbeat, which tells
    them to speak plain frames, on the same connection."""
    state = SimulatorState(inverter_count=1)
    serial = next(iter(state.inverters))
    async with run_simulator(state, dongle_port=0) as simulator:
        assert simulator.dongle_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", simulator.dongle_port)
        try:
            writer.write(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(40))  # a ClientHello's start
            beat = frames.decode(await reader.readexactly(frames.HEARTBEAT_SIZE))
            assert (beat.tcp_function, beat.dongle_serial) == (
                TcpFunction.HEARTBEAT,
                state.dongle_serial(serial),
            )
            dongle = state.dongle_serial(serial)
            writer.write(frames.read_request(dongle, serial, ModbusFunction.READ_HOLDING, 101, 1))
            head = await reader.readexactly(6)
            reply = frames.decode(head + await reader.readexactly(int.from_bytes(head[4:6], "little")))
        finally:
            writer.close()
    assert reply.values == (25,)
