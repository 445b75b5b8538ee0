"""The parsers against answers shaped exactly like ones captured from real accounts (tests/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge.core.errors import MalformedResponseError
from bridge.core.readings import parse_runtime
from bridge.transports.cloud.answers import parse_account

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parents[1] / "fixtures"


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return payload


def test_real_login_answer_yields_plant_inverters_and_gridboss() -> None:
    account = parse_account(load("login_answer.json"))
    assert account.role == "VIEWER"
    assert [plant.name for plant in account.plants] == ["Fixture Plant"]
    devices = {device.serial: device for device in account.inverters}
    flexboss, pv18k, gridboss = devices["5000000001"], devices["5000000002"], devices["5000000003"]
    assert (flexboss.model, flexboss.device_type, flexboss.firmware) == ("FlexBOSS21", 6, "FAAB-2122")
    assert (pv18k.model, pv18k.firmware, pv18k.plant_id) == ("18KPV", "fAAB-2122", 2001)
    assert flexboss.parallel_group == "A"
    assert (gridboss.device_type, gridboss.has_battery_parameters, gridboss.parallel_group) == (
        9,
        False,
        None,
    )


def test_real_runtime_answer_is_scaled_once() -> None:
    runtime = parse_runtime(load("runtime_answer.json"), "5000000002")
    assert runtime.online
    assert runtime.soc == 71
    assert runtime.battery_voltage == 53.0  # vBat 530 / 10
    assert (runtime.charge_power, runtime.discharge_power, runtime.battery_power) == (1045, 0, 1045)
    assert runtime.battery_temperature == 2
    assert (runtime.pv_power, runtime.grid_import_power, runtime.grid_export_power) == (0, 1030, 0)
    assert runtime.bms_charge_current_limit == 60.0  # maxChgCurrValue 600 / 10
    assert runtime.bms_discharge_current_limit == 60.0
    assert runtime.firmware == "fAAB-2122"


def test_real_offline_runtime_answer_means_offline_with_no_values() -> None:
    runtime = parse_runtime(load("runtime_offline_answer.json"), "5000000009")
    assert not runtime.online
    assert runtime.status_text == "offline"
    assert (runtime.soc, runtime.battery_voltage, runtime.pv_power, runtime.battery_power) == (None,) * 4
    # Present even offline: the BMS limits are the last the cloud knew.
    assert runtime.bms_charge_current_limit == 60.0


def test_temperature_127_means_no_bms_reading() -> None:
    payload = load("runtime_answer.json") | {"tBat": 127}
    assert parse_runtime(payload, "5000000002").battery_temperature is None


def test_runtime_for_another_serial_is_refused() -> None:
    with pytest.raises(MalformedResponseError, match="is for 5000000002, but 5000000001 was asked for"):
        parse_runtime(load("runtime_answer.json"), "5000000001")
