"""A GridBOSS's runtime answer: legs summed, scales applied, smart port modes named, and an answer that
cannot be trusted refused."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.core.errors import MalformedResponseError
from bridge.core.readings import parse_gridboss

pytestmark = pytest.mark.unit

SERIAL = "4812345602"


def answer(**data: Any) -> dict[str, Any]:
    legs = {
        "gridRmsVolt": 2418,
        "upsRmsVolt": 2410,
        "gridFreq": 5998,
        "gridL1ActivePower": 872,
        "gridL2ActivePower": 903,
        "loadL1ActivePower": 1000,
        "loadL2ActivePower": 1100,
        "upsL1ActivePower": 827,
        "upsL2ActivePower": 1211,
        "genL1ActivePower": 0,
        "genL2ActivePower": 0,
        "smartLoad1L1ActivePower": -1019,
        "smartLoad1L2ActivePower": -1020,
        "smartPort1Status": 2,
        "smartPort2Status": 1,
        "smartPort3Status": 0,
        "smartPort4Status": 7,
        "eToUserTodayL1": 123,
        "eToUserTodayL2": 0,
    }
    return {"success": True, "serialNum": SERIAL, "lost": False, "midboxData": legs | data}


def test_the_legs_are_summed_and_scaled() -> None:
    read = parse_gridboss(answer(), SERIAL)
    assert (read.grid_voltage, read.backup_voltage, read.grid_frequency) == (241.8, 241.0, 59.98)
    assert (read.grid_power, read.grid_l1_power, read.grid_l2_power) == (1775, 872, 903)
    assert (read.load_power, read.backup_power, read.generator_power) == (2100, 2038, 0)
    assert read.smart_port1_power == -2039  # an AC-coupled source feeding in
    assert read.import_today == 12.3
    assert read.export_today is None  # not in the answer: not guessed


def test_each_smart_port_mode_is_named() -> None:
    read = parse_gridboss(answer(), SERIAL)
    modes = (read.smart_port1_mode, read.smart_port2_mode, read.smart_port3_mode, read.smart_port4_mode)
    assert modes == ("ac_couple", "smart_load", "unused", "unknown (7)")


def test_a_lost_gridboss_is_offline() -> None:
    assert parse_gridboss(answer() | {"lost": True}, SERIAL).online is False


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (answer() | {"serialNum": "4812345699"}, "is for 4812345699, but 4812345602 was asked for"),
        (answer() | {"midboxData": [1, 2]}, "has no midboxData object"),
        (answer(gridL1ActivePower=True), "is not a number"),
        (answer(gridRmsVolt="high"), "unexpected fields: gridRmsVolt"),
    ],
)
def test_an_answer_that_cannot_be_trusted_is_refused(payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedResponseError, match=problem):
        parse_gridboss(payload, SERIAL)
