"""A GridBOSS read through its own dongle or adapter: the input registers the public sources agree on,
decoded with the cloud answer's scales and signs, nothing else guessed, and an answer that cannot be
trusted refused."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bridge.core.catalogue import GRIDBOSS_SENSORS
from bridge.core.config import Settings
from bridge.core.errors import MalformedResponseError, NoTransportError
from bridge.core.readings import GRIDBOSS_DEVICE_TYPE, GridBossRuntime
from bridge.transports.cloud import CloudClient
from bridge.transports.local import gridboss
from bridge.transports.local.dongle import LocalSilentError
from bridge.transports.local.frames import ModbusFunction
from bridge.transports.router import GRIDBOSS_LOCAL_SENSORS, RegisterTransport, Router
from tests.unit.fakes import FakeClock, FakeCloud, FakeRegisters

pytestmark = pytest.mark.unit

SERIAL = "4812345602"
DONGLE = {"host": "192.0.2.1", "serial": "BA12345602", "rest_seconds": 60}

#: Registers as a GridBOSS would hold them (pylxpweb and galets/eg4-modbus-monitor agree on each).
WORDS = {
    1: 2418,  # grid voltage, tenths of a volt
    2: 2410,  # backup (UPS) voltage
    26: 872,  # grid L1, watts
    27: 0x10000 - 100,  # grid L2 exporting 100 W: two's complement
    28: 1000,
    29: 1100,  # load L1, L2
    30: 0,
    31: 0,  # generator
    32: 827,
    33: 1211,  # backup side
    34: 300,
    35: 0,  # smart port 1
    36: 0x10000 - 225,
    37: 0x10000 - 225,  # smart port 2, AC-coupled: feeding in
    42: 210,
    43: 0,  # load today, tenths of a kWh
    44: 180,
    45: 5,  # backup today
    46: 45,
    48: 123,  # export, import today: not read (their L2 registers are disputed)
    129: 5998,  # grid frequency, hundredths of a hertz
}


def transport(
    words: dict[int, int] | None = None, *, code: int = gridboss.DEVICE_TYPE_CODE
) -> RegisterTransport:
    registers = FakeRegisters(SERIAL, holding={19: code}, inputs=dict(WORDS if words is None else words))
    return RegisterTransport(SERIAL, registers, max_block=125)


def test_each_register_is_decoded_with_the_clouds_scale_and_sign() -> None:
    read = gridboss.decode(dict.fromkeys(gridboss.input_registers(), 0) | WORDS, SERIAL)
    assert (read.grid_voltage, read.backup_voltage, read.grid_frequency) == (241.8, 241.0, 59.98)
    assert (read.grid_l1_power, read.grid_l2_power, read.grid_power) == (872, -100, 772)
    assert (read.load_power, read.backup_power, read.generator_power) == (2100, 2038, 0)
    assert (read.smart_port1_power, read.smart_port2_power) == (300, -450)
    assert (read.load_today, read.backup_today) == (21.0, 18.5)


def test_what_the_registers_do_not_give_is_unknown_not_zero() -> None:
    read = gridboss.decode(dict.fromkeys(gridboss.input_registers(), 0) | WORDS, SERIAL)
    assert (read.import_today, read.export_today) == (None, None)
    assert (read.smart_port1_mode, read.smart_port4_mode) == (None, None)


def test_encoding_the_clouds_numbers_and_decoding_them_gives_them_back() -> None:
    """The simulator serves the registers from the cloud's answer: both doors must agree."""
    data: dict[str, Any] = dict.fromkeys(gridboss.INPUTS, 0) | {
        "gridRmsVolt": 2418,
        "gridL2ActivePower": -100,
        "smartLoad4L1ActivePower": -32768,
        "eUpsTodayL2": 65535,
        "gridFreq": 6001,
    }
    words = gridboss.encode(data)
    assert (words[27], words[40]) == (0xFF9C, 0x8000)
    assert {name: spec.decode(words) for name, spec in gridboss.INPUTS.items()} == data


def test_the_sensors_announced_without_the_cloud_are_those_the_registers_give() -> None:
    every = {sensor.key for sensor in GRIDBOSS_SENSORS}
    left_out = {"gridboss_import_today", "gridboss_export_today"} | {
        f"gridboss_smart_port{port}_status" for port in range(1, 5)
    }
    assert every - left_out == GRIDBOSS_LOCAL_SENSORS


async def test_the_runtime_is_read_in_blocks_of_40_at_most_after_its_device_type_was_checked_once() -> None:
    """pylxpweb: GridBOSS reads of more than 40 registers failed on real hardware."""
    way = transport()
    registers = cast(FakeRegisters, way.connection)
    assert (await way.gridboss()).grid_power == 772
    await way.gridboss()
    block = [("read input", 1, 40), ("read input", 41, 5), ("read input", 129, 1)]
    assert registers.requests == [("read holding", 19, 1), *block, *block]


async def test_a_device_that_is_not_a_gridboss_is_never_read_as_one() -> None:
    way = transport(code=2092)  # an 18kPV's device type code
    with pytest.raises(MalformedResponseError, match=r"not a GridBOSS: its device type code .* is 2092"):
        await way.gridboss()
    assert cast(FakeRegisters, way.connection).requests == [("read holding", 19, 1)]


class ShortAnswers(FakeRegisters):
    """A connection that answers one register fewer than asked, or a value no register holds."""

    too_large: bool = False

    async def read(self, inverter: str, function: ModbusFunction, start: int, count: int) -> tuple[int, ...]:
        values = await super().read(inverter, function, start, count)
        if function is ModbusFunction.READ_HOLDING:
            return values
        return (*values[:-1], 0x10000) if self.too_large else values[:-1]


@pytest.mark.parametrize("too_large", [False, True])
async def test_a_short_or_malformed_answer_is_refused_never_read_as_values(too_large: bool) -> None:
    registers = ShortAnswers(SERIAL, holding={19: gridboss.DEVICE_TYPE_CODE}, inputs=dict(WORDS))
    registers.too_large = too_large
    with pytest.raises(MalformedResponseError, match="answered"):
        await RegisterTransport(SERIAL, registers).gridboss()


async def test_an_inverter_named_without_gridboss_true_is_refused_its_settings_when_it_says_it_is_one() -> (
    None
):
    way = transport()
    with pytest.raises(MalformedResponseError, match=r"is a GridBOSS .* give it gridboss: true"):
        await way.parameters()


def router(mode: str, *, with_cloud: bool = True) -> tuple[Router, FakeRegisters, FakeCloud]:
    document: dict[str, Any] = {
        "transport": mode,
        "inverters": {SERIAL: {"dongle": DONGLE, "gridboss": True}},
    }
    if with_cloud:
        document["cloud"] = {"username": "someone", "password": "secret"}
    registers = FakeRegisters(SERIAL, holding={19: gridboss.DEVICE_TYPE_CODE}, inputs=dict(WORDS))
    cloud = FakeCloud(
        midbox={"smartPort1Status": 1, "eToUserTodayL1": 123, "eToUserTodayL2": 0, "gridRmsVolt": 1}
    )
    way = RegisterTransport(SERIAL, registers)
    settings = Settings.model_validate(document)
    return (
        Router(cast(CloudClient, cloud) if with_cloud else None, {SERIAL: way}, settings, FakeClock()),
        registers,
        cloud,
    )


async def test_with_no_cloud_a_gridboss_named_in_the_config_is_read_through_its_dongle() -> None:
    routed, _registers, _cloud = router("local", with_cloud=False)
    (found,) = await routed.inverters()
    assert (found.serial, found.device_type, found.model) == (SERIAL, GRIDBOSS_DEVICE_TYPE, "GridBOSS")
    assert routed.sensors_of(SERIAL) == GRIDBOSS_LOCAL_SENSORS
    read = await routed.get_gridboss(SERIAL)
    assert (read.grid_power, read.import_today) == (772, None)
    with pytest.raises(NoTransportError, match="settings are read through the cloud only"):
        await routed.read_parameters(SERIAL)


async def test_hybrid_fills_what_the_registers_do_not_give_from_the_cloud_and_keeps_the_registers() -> None:
    routed, _registers, cloud = router("hybrid")
    read = await routed.get_gridboss(SERIAL)
    assert (read.grid_voltage, read.grid_power) == (241.8, 772), "the registers' values win"
    assert (read.smart_port1_mode, read.import_today) == ("smart_load", 12.3)
    assert routed.sensors_of(SERIAL) is None
    assert cloud.calls == [("get_gridboss", SERIAL)]


async def test_hybrid_asks_the_cloud_alone_when_the_dongle_is_silent() -> None:
    routed, registers, cloud = router("hybrid")
    registers.failures = [LocalSilentError("did not answer", sent=True)]
    read = await routed.get_gridboss(SERIAL)
    assert isinstance(read, GridBossRuntime)
    assert (read.grid_voltage, read.grid_power) == (0.1, None)
    assert cloud.calls == [("get_gridboss", SERIAL)]


async def test_a_gridbosss_settings_never_touch_its_registers_in_hybrid() -> None:
    routed, registers, cloud = router("hybrid")
    await routed.read_parameters(SERIAL)
    assert cloud.calls == [("read_parameters", SERIAL)]
    assert registers.requests == []


async def test_hybrid_keeps_a_gridboss_its_dongle_answered_online_when_the_cloud_says_it_is_lost() -> None:
    routed, _registers, cloud = router("hybrid")
    cloud.midbox_lost = True
    read = await routed.get_gridboss(SERIAL)
    assert read.online, "the dongle answered: the cloud's lost link does not make it lost"
    assert (read.grid_voltage, read.grid_power) == (241.8, 772)
    assert (read.smart_port1_mode, read.import_today) == (None, None), "a lost cloud's values are not taken"
