"""Battery modules read from their input registers (four slots of 30 from 5002): the same raw numbers the
cloud's battery answer gives, through the same model and scales; empty and ghost slots are no module; the
serial is ASCII, low byte first."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.core.readings import parse_battery_bank
from bridge.transports.local.batteries import FIRST, SLOT_SIZE, decode_bank, encode_bank, module_serial

pytestmark = pytest.mark.unit

SERIAL = "4512345600"

#: One module of a real 18kPV with three, as raw registers from 5002 (eg4_web_monitor
#: docs/reference/firmware/re/REGISTER_MAP_FROM_FIRMWARE.md section 4): status 0xC003, 280 Ah, 56.0 V,
#: 200.0 A twice, 45.0 V, 53.69 V, 37.2 A, SOH 100 / SOC 81, 152 cycles, 21.0 / 20.0 °C, 3359 / 3353 mV,
#: the cell numbers, firmware 2.17, serial "Battery_ID_01".
CAPTURED = (
    0xC003, 280, 560, 2000, 2000, 450, 5369, 372, 0x6451, 152, 210, 200, 3359, 3353, 0x0103, 0x0201, 0x0211,
    0x6142, 0x7474, 0x7265, 0x5F79, 0x4449, 0x305F, 0x0031, 0x0000, 0, 0, 0, 0, 0,
)  # fmt: skip


def slots(*blocks: tuple[int, ...] | None) -> dict[int, int]:
    """Registers from 5002 holding these slots (`None`: all zero)."""
    words: dict[int, int] = {}
    for slot, block in enumerate(blocks):
        start = FIRST + SLOT_SIZE * slot
        words.update(zip(range(start, start + SLOT_SIZE), block or (0,) * SLOT_SIZE, strict=True))
    return words


def changed(block: tuple[int, ...], **at: int) -> tuple[int, ...]:
    """`block` with some offsets changed: `at={"o7": 0xFFCA}`."""
    words = list(block)
    for offset, value in at.items():
        words[int(offset.removeprefix("o"))] = value
    return tuple(words)


def test_a_captured_module_reads_as_the_cloud_would_give_it() -> None:
    (module,) = decode_bank(slots(CAPTURED), SERIAL).modules
    assert (module.serial, module.module_id, module.index, module.lost) == ("Battery_ID_01", "01", 0, False)
    assert (module.voltage, module.current, module.soc, module.soh, module.cycle_count) == (
        53.69,
        37.2,
        81,
        100,
        152,
    )
    assert (module.max_cell_temperature, module.min_cell_temperature) == (21.0, 20.0)
    assert (module.max_cell_voltage, module.min_cell_voltage, module.cell_voltage_spread) == (
        3.359,
        3.353,
        0.006,
    )
    assert (module.full_capacity, module.charge_current_limit, module.charge_voltage_reference) == (
        280,
        200.0,
        56.0,
    )
    assert module.firmware == "2.17"


def test_current_and_cell_temperatures_are_signed() -> None:
    """Discharging is a negative current; a cell below 0 °C a negative temperature (not 6553.4 °C)."""
    (module,) = decode_bank(slots(changed(CAPTURED, o7=0xFFCA, o10=0x0014, o11=0xFFEC)), SERIAL).modules
    assert (module.current, module.max_cell_temperature, module.min_cell_temperature) == (-5.4, 2.0, -2.0)


def test_empty_and_ghost_slots_are_no_module_and_a_module_keeps_its_slot_number() -> None:
    """A ghost: the status says occupied, but no voltage and no SOC (pylxpweb #249/#248)."""
    ghost = (0xC001,) + (0,) * (SLOT_SIZE - 1)
    other = changed(CAPTURED, o23=0x0032)  # "Battery_ID_02"
    bank = decode_bank(slots(None, ghost, other, changed(CAPTURED, o0=0)), SERIAL)
    assert [(module.serial, module.index) for module in bank.modules] == [("Battery_ID_02", 2)]
    assert decode_bank(slots(None, None, None, None), SERIAL).modules == ()


def test_a_module_seen_in_two_slots_in_one_read_is_one_module() -> None:
    """Modules rotate through the slots between reads of one slot each: one may show up twice."""
    bank = decode_bank(slots(CAPTURED, CAPTURED), SERIAL)
    assert [module.index for module in bank.modules] == [0]


def test_the_serial_is_up_to_15_characters_low_byte_first_without_the_bank_position() -> None:
    text = b"4512BAT00012345"
    words = [text[i] | (text[i + 1] << 8 if i + 1 < len(text) else 0) for i in range(0, 16, 2)]
    words[7] |= 3 << 8  # the high byte of offset 24: the module's place in the bank (pylxpweb)
    block = (0,) * 17 + tuple(words) + (0,) * 5
    assert module_serial(block) == "4512BAT00012345"
    assert module_serial((0,) * 17 + (0x6142, 0x0000, 0x6363) + (0,) * 10) == "Ba", "a 0 byte ends it"


def test_a_module_without_a_serial_is_named_by_its_slot() -> None:
    nameless = changed(CAPTURED, **{f"o{offset}": 0 for offset in range(17, 25)})
    (module,) = decode_bank(slots(None, nameless), SERIAL).modules
    assert (module.serial, module.module_id) == ("", "02")


def cloud_module(serial: str, index: int, **values: Any) -> dict[str, Any]:
    return {
        "batterySn": serial,
        "batIndex": index,
        "lost": False,
        "totalVoltage": 5305,
        "current": -54,
        "soc": 67,
        "soh": 99,
        "currentFullCapacity": 280,
        "batMaxCellTemp": 251,
        "batMinCellTemp": -12,
        "batMaxCellVoltage": 3317,
        "batMinCellVoltage": 3312,
        "batChargeMaxCur": 2000,
        "batChargeVoltRef": 560,
        "cycleCnt": 58,
        "fwVersionText": "2.17",
    } | values


def test_the_registers_made_from_the_clouds_answer_read_back_as_the_same_modules() -> None:
    """What the simulator serves: one module seen through the cloud and through the registers agrees."""
    answer = [cloud_module("5600BAT0000", 0), cloud_module("5600BAT0001", 1, soc=66, current=31)]
    words = encode_bank(answer)
    assert set(words) == set(range(FIRST, FIRST + 4 * SLOT_SIZE))
    assert all(words[register] == 0 for register in range(FIRST + 2 * SLOT_SIZE, FIRST + 4 * SLOT_SIZE))
    assert decode_bank(words, SERIAL) == parse_battery_bank({"batteryArray": answer}, SERIAL)
