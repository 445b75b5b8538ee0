"""Checked against code nobody here wrote: pylxpweb, the field's Python client, with its strict models, reads
the simulator as it reads the real cloud. It needs Python 3.12 or newer in a virtual environment of its own
(bench/.venv-pylxpweb, made on first use); without such a Python the test is skipped, saying so."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.pylxpweb_compare import ensure_venv
from bridge.core.catalogue import setting_by_key
from bridge.core.kinds import WindowSetting
from bridge.core.readings import parse_battery_bank
from bridge.simulator import SimulatorState, run_simulator
from bridge.simulator.answers import battery_answer, gridboss_answer
from bridge.simulator.dongle import SimulatedDongles
from bridge.transports.local import registers

pytestmark = pytest.mark.e2e

BENCH = Path(__file__).parents[2] / "bench"


async def in_pylxpweb(
    python: Path, script: str, *arguments: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One of bench/'s pylxpweb scripts, run by pylxpweb's own interpreter."""
    import asyncio

    return await asyncio.to_thread(
        subprocess.run,
        [str(python), str(BENCH / script), *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_pylxpweb_accepts_the_simulators_runtime_answers() -> None:
    import asyncio

    python = await asyncio.to_thread(ensure_venv)
    if python is None:
        pytest.skip("no Python 3.12 or newer here for pylxpweb's virtual environment")
    state = SimulatorState(inverter_count=3)
    serials = list(state.inverters)
    async with run_simulator(state) as simulator:
        # pylxpweb speaks to `localhost`: aiohttp's cookie jar drops cookies set by a bare IP address.
        base_url = simulator.base_url.replace("127.0.0.1", "localhost")
        done = await in_pylxpweb(python, "pylxpweb_runtime.py", base_url, ",".join(serials))
    assert done.returncode == 0, done.stderr[-2000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(read) == set(serials)
    for serial in serials:
        assert 0 <= read[serial]["soc"] <= 100
        assert read[serial]["vBat"] > 0


async def test_pylxpweb_and_the_codec_agree_on_dongle_frames_both_ways() -> None:
    """The frames pylxpweb builds are byte for byte the codec's and decode to the same fields; the replies
    the codec builds pass pylxpweb's checks and give the same values."""
    import asyncio

    from bridge.transports.local.frames import (
        ModbusFunction,
        decode,
        read_reply,
        read_request,
        write_multiple_request,
        write_single_request,
    )

    python = await asyncio.to_thread(ensure_venv)
    if python is None:
        pytest.skip("no Python 3.12 or newer here for pylxpweb's virtual environment")
    dongle, inverter = "BA12345678", "4512345600"
    replies = [
        (3, 101, 2, read_reply(dongle, inverter, ModbusFunction.READ_HOLDING, 101, [80, 120])),
        (4, 40, 3, read_reply(dongle, inverter, ModbusFunction.READ_INPUT, 40, [0, 515, 65535])),
    ]
    stdin = "\n".join(f"{f}:{r}:{c}:{raw.hex()}" for f, r, c, raw in replies)
    done = await in_pylxpweb(python, "pylxpweb_frames.py", dongle, inverter, stdin=stdin)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours = {
        "read_holding": read_request(dongle, inverter, ModbusFunction.READ_HOLDING, 101, 2),
        "read_input": read_request(dongle, inverter, ModbusFunction.READ_INPUT, 40, 40),
        "write_single": write_single_request(dongle, inverter, 101, 80),
        "write_multiple": write_multiple_request(dongle, inverter, 68, [1, 0, 5, 30]),
    }
    for name, frame in ours.items():
        assert theirs["built"][name] == frame.hex(), name
        decoded = decode(bytes.fromhex(theirs["built"][name]))
        assert (decoded.dongle_serial, decoded.inverter_serial) == (dongle, inverter)
    assert theirs["parsed"] == [[80, 120], [0, 515, 65535]]


async def test_pylxpweb_reads_and_writes_the_charge_current_through_the_simulated_dongle() -> None:
    import asyncio

    python = await asyncio.to_thread(ensure_venv)
    if python is None:
        pytest.skip("no Python 3.12 or newer here for pylxpweb's virtual environment")
    state = SimulatorState(inverter_count=2)
    serial = "4512345601"
    async with run_simulator(state, dongle_port=0) as running:
        assert running.dongle_port is not None
        state.inverters[serial].values["HOLD_LEAD_ACID_CHARGE_RATE"] = "61"  # as if set in the app
        done = await in_pylxpweb(
            python,
            "pylxpweb_dongle.py",
            "127.0.0.1",
            str(running.dongle_port),
            state.dongle_serial(serial),
            serial,
            "77",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        seen = json.loads(done.stdout)
        # pylxpweb's runtime read sees the same battery the cloud's runtime answer shows.
        soc = round(state.inverters[serial].soc)
    assert (seen["before"], seen["written"], seen["after"]) == (61, True, 77)
    assert state.value_of(serial, "HOLD_LEAD_ACID_CHARGE_RATE") == "77"  # seen through the cloud's door
    assert state.writes_by_transport == {"dongle": 1}
    assert abs(seen["battery_soc"] - soc) <= 1
    assert 40 < seen["battery_voltage"] < 60


async def test_pylxpweb_reads_and_writes_through_the_simulated_modbus_adapter() -> None:
    """pylxpweb's own Modbus TCP transport against the simulator's Modbus port: the device type code the
    bridge tells families by, the charge current read, written and read back, and a runtime read."""
    import asyncio

    python = await asyncio.to_thread(ensure_venv)
    if python is None:
        pytest.skip("no Python 3.12 or newer here for pylxpweb's virtual environment")
    state = SimulatorState(inverter_count=2)
    async with run_simulator(state, modbus_port=0) as simulator:
        port = str(simulator.modbus_port)
        done = await in_pylxpweb(python, "pylxpweb_modbus.py", "127.0.0.1", port, "1", "4512345600", "61")
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert (seen["before"], seen["device_type"], seen["written"], seen["after"]) == (25, 2092, True, 61)
    assert 0 <= seen["battery_soc"] <= 100
    assert state.value_of("4512345600", "HOLD_LEAD_ACID_CHARGE_RATE") == "61"
    assert state.writes_by_transport["modbus_tcp"] == 1


async def test_pylxpweb_reads_the_simulators_battery_modules_as_the_bridge_does() -> None:
    """pylxpweb's own battery read (its register map of 5002-5121) through the simulated Modbus adapter
    finds the same modules, with the same values, as the cloud's battery answer parsed by the bridge: the
    registers the simulator (and the bridge's decoder) lays out are the ones pylxpweb reads."""
    import asyncio

    python = await asyncio.to_thread(ensure_venv)
    if python is None:
        pytest.skip("no Python 3.12 or newer here for pylxpweb's virtual environment")
    state = SimulatorState(inverter_count=1, batteries=3)
    serial = next(iter(state.inverters))
    async with run_simulator(state, modbus_port=0) as simulator:
        port = str(simulator.modbus_port)
        done = await in_pylxpweb(python, "pylxpweb_batteries.py", "127.0.0.1", port, "1", serial)
        cloud = parse_battery_bank(battery_answer(state.inverters[serial]), serial)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert [module["serial_number"] for module in seen] == [module.serial for module in cloud.modules]
    for theirs, ours in zip(seen, cloud.modules, strict=True):
        assert (theirs["soh"], theirs["max_capacity"], theirs["cycle_count"]) == (
            ours.soh,
            ours.full_capacity,
            ours.cycle_count,
        )
        assert (theirs["max_cell_temperature"], theirs["min_cell_temperature"]) == (
            ours.max_cell_temperature,
            ours.min_cell_temperature,
        )
        assert (theirs["charge_current_limit"], theirs["charge_voltage_ref"], theirs["firmware_version"]) == (
            ours.charge_current_limit,
            ours.charge_voltage_reference,
            ours.firmware,
        )
        # These follow the simulated SOC and power, which move between the two reads.
        assert abs(theirs["soc"] - (ours.soc or 0)) <= 1
        assert theirs["voltage"] == pytest.approx(ours.voltage, abs=0.1)
        assert theirs["max_cell_voltage"] == pytest.approx(ours.max_cell_voltage, abs=0.01)
        assert theirs["min_cell_voltage"] == pytest.approx(ours.min_cell_voltage, abs=0.01)


#: pylxpweb's name of each value the bridge reads from a GridBOSS's registers, with the cloud's raw field
#: and the scale between them (bridge/transports/local/gridboss.py).
GRIDBOSS_FIELDS = {
    "grid_voltage": ("gridRmsVolt", 10),
    "ups_voltage": ("upsRmsVolt", 10),
    "grid_frequency": ("gridFreq", 100),
    **{
        f"{side}_{leg.lower()}_power": (f"{raw}{leg}ActivePower", 1)
        for side, raw in (("grid", "grid"), ("load", "load"), ("gen", "gen"), ("ups", "ups"))
        for leg in ("L1", "L2")
    },
    **{
        f"smart_load_{port}_{leg.lower()}_power": (f"smartLoad{port}{leg}ActivePower", 1)
        for port in range(1, 5)
        for leg in ("L1", "L2")
    },
    **{
        f"{kind}_energy_today_{leg.lower()}": (f"e{raw}Today{leg}", 10)
        for kind, raw in (("load", "Load"), ("ups", "Ups"))
        for leg in ("L1", "L2")
    },
}


async def test_pylxpweb_reads_the_simulated_gridboss_registers_as_the_bridge_does() -> None:
    """pylxpweb's Modbus reader, its own register map, against the simulator's GridBOSS unit: every value the
    bridge reads locally is the cloud answer's number for the same state, scaled as the bridge scales it."""
    import asyncio

    python = await asyncio.to_thread(ensure_venv)
    if python is None:
        pytest.skip("no Python 3.12 or newer here for pylxpweb's virtual environment")
    state = SimulatorState(inverter_count=1, gridboss=True)
    gridboss = next(serial for serial, device in state.inverters.items() if not device.has_battery_parameters)
    async with run_simulator(state, modbus_port=0) as simulator:
        unit = "2"  # the simulator's adapter units: the inverter, then the GridBOSS
        done = await in_pylxpweb(
            python, "pylxpweb_gridboss.py", "127.0.0.1", str(simulator.modbus_port), unit, gridboss
        )
        # Nothing moves the inverters' flows between pylxpweb's read and this answer: no inverter is read.
        cloud = gridboss_answer(state, state.inverters[gridboss])["midboxData"]
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours = {name: cloud[raw] / scale for name, (raw, scale) in GRIDBOSS_FIELDS.items()}
    # pylxpweb reads the blocks a moment apart, and the simulated flows move meanwhile: a power may differ
    # by a watt or two; a wrong scale or sign would be off by a factor.
    assert theirs == pytest.approx(ours, abs=5)
    assert {name: theirs[name] for name in ours if not name.endswith("_power")} == pytest.approx(
        {name: value for name, value in ours.items() if not name.endswith("_power")}
    )
    assert any(value < 0 for value in theirs.values()), "a negative power read with its sign"


async def test_pylxpweb_writes_and_reads_the_schedules_the_bridge_reads_under_other_names() -> None:
    """pylxpweb's own schedule setters and getters through the simulated cloud: the peak-shaving schedule,
    written with `writeTime` and read under `LSP_HOLD_DIS_CHG_POWER_TIME_*`, and the off-grid schedule. The
    bridge's rows read the same windows from the same parameters, and from the registers a dongle holds."""
    import asyncio

    python = await asyncio.to_thread(ensure_venv)
    if python is None:
        pytest.skip("no Python 3.12 or newer here for pylxpweb's virtual environment")
    state = SimulatorState(inverter_count=1, models=("FlexBOSS21",))
    serial = next(iter(state.inverters))
    async with run_simulator(state) as simulator:
        base_url = simulator.base_url.replace("127.0.0.1", "localhost")
        done = await in_pylxpweb(python, "pylxpweb_schedules.py", base_url, serial)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert (theirs["peak_written"], theirs["off_grid_written"]) == (True, True)
    inverter = state.inverters[serial]
    words = SimulatedDongles(state).holding(inverter)
    for key, window in (("peak_1", "peak_shaving_window_1"), ("peak_2", "peak_shaving_window_2"),
                        ("off_grid_1", "off_grid_window_1")):  # fmt: skip
        setting = setting_by_key(window)
        assert isinstance(setting, WindowSetting)
        read = theirs[key]
        expected = f"{read['start_hour']:02d}:{read['start_minute']:02d}-{read['end_hour']:02d}:{read['end_minute']:02d}"
        through_cloud = setting.from_fields(
            {name: str(inverter.values[name]) for name in setting.field_names}
        )
        through_dongle = setting.from_fields(registers.decode_holding(setting.field_names, words))
        assert through_cloud == through_dongle == expected, key
    assert theirs["peak_2"] == {"start_hour": 17, "start_minute": 5, "end_hour": 21, "end_minute": 30}
    assert theirs["peak_1"] == {"start_hour": 16, "start_minute": 0, "end_hour": 20, "end_minute": 0}, (
        "as captured"
    )
