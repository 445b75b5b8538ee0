"""Battery modules: the cloud's battery answer read with its scales, a stable id per module, and the
announcer's bookkeeping of modules that come, go, or sit in an offline bank."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.core.config import Settings
from bridge.core.devices import Device
from bridge.core.errors import MalformedResponseError
from bridge.core.families import Family
from bridge.core.fleet import Fleet
from bridge.core.readings import BatteryBank, Energy, Runtime, parse_battery_bank
from bridge.mqtt.announcer import Announcer
from bridge.mqtt.topics import Topics

pytestmark = pytest.mark.unit

SERIAL = "4512345600"


def module(serial: str, index: int, **values: Any) -> dict[str, Any]:
    return {
        "batteryKey": f"{SERIAL}_{serial}",
        "batterySn": serial,
        "batIndex": index,
        "lost": False,
        "totalVoltage": 5305,
        "current": -54,
        "soc": 67,
        "soh": 99,
        "batMaxCellTemp": 251,
        "batMinCellTemp": 240,
        "batMaxCellVoltage": 3317,
        "batMinCellVoltage": 3312,
        "batChargeMaxCur": 2000,
        "batChargeVoltRef": 560,
        "cycleCnt": 58,
        "fwVersionText": "2.17",
        "chgCapacity": "",
    } | values


def answer(*modules: dict[str, Any], lost: bool = False) -> dict[str, Any]:
    return {"success": True, "serialNum": SERIAL, "lost": lost, "totalNumber": len(modules)} | (
        {"batteryArray": list(modules)} if modules else {}
    )


def test_a_module_is_read_with_the_clouds_scales() -> None:
    bank = parse_battery_bank(answer(module("Battery_ID_01", 0)), SERIAL)
    read = bank.modules[0]
    assert (read.voltage, read.current, read.soc, read.soh) == (53.05, -5.4, 67, 99)
    assert (read.max_cell_temperature, read.min_cell_temperature) == (25.1, 24.0)
    assert (read.max_cell_voltage, read.min_cell_voltage, read.cell_voltage_spread) == (3.317, 3.312, 0.005)
    assert (read.charge_current_limit, read.charge_voltage_reference, read.cycle_count) == (200.0, 56.0, 58)


@pytest.mark.parametrize(
    ("serial", "index", "module_id"),
    [
        ("Battery_ID_01", 0, "01"),  # the placeholder of a BMS that gives no serial: its number
        ("Battery_ID_7", 6, "07"),
        ("ABC123-X_9", 2, "ABC123-X_9"),  # a real serial, as it is
        ("a/b+#", 3, "04"),  # never a topic level: the position instead
        ("", 0, "01"),
    ],
)
def test_a_module_id_is_stable_and_always_one_topic_level(serial: str, index: int, module_id: str) -> None:
    bank = parse_battery_bank(answer(module(serial, index)), SERIAL)
    assert bank.modules[0].module_id == module_id


def test_an_offline_bank_has_no_modules() -> None:
    bank = parse_battery_bank({"success": True, "serialNum": SERIAL, "lost": True, "totalNumber": 0}, SERIAL)
    assert (bank.lost, bank.modules) == (True, ())


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (answer(module("Battery_ID_01", 0), module("Battery_ID_01", 1)), "names one module twice"),
        (answer(module("X1", 0)) | {"serialNum": "4512345699"}, "is for 4512345699, but 4512345600"),
        (answer(module("X1", 0, soc="full")), "unexpected fields: batteryArray.0.soc"),
    ],
)
def test_a_battery_answer_that_cannot_be_trusted_is_refused(payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedResponseError, match=problem):
        parse_battery_bank(payload, SERIAL)


class Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None:
        self.published.append((topic, payload))

    def last(self, topic: str) -> str | None:
        return next((payload for where, payload in reversed(self.published) if where == topic), None)


def announced(*modules: dict[str, Any]) -> tuple[Announcer, Recorder, Topics]:
    topics, recorder = Topics(), Recorder()
    settings = Settings.model_validate({"cloud": {"username": "someone", "password": "secret"}})
    fleet = Fleet(settings)
    fleet.add(Device(SERIAL, "18KPV", family=Family.EG4_HYBRID))
    announcer = Announcer(topics, settings, fleet)
    announcer.attach(recorder)
    announcer.announce()
    announcer.batteries(SERIAL, parse_battery_bank(answer(*modules), SERIAL))
    return announcer, recorder, topics


def config_topic(module_id: str) -> str:
    return f"homeassistant/device/eg4_{SERIAL}_battery_{module_id}/config"


def test_a_module_that_went_is_removed_with_every_state_it_had() -> None:
    announcer, recorder, topics = announced(module("Battery_ID_01", 0), module("Battery_ID_02", 1))
    soc = topics.state(SERIAL, "battery_module/02/soc")
    assert recorder.last(soc) == "67"
    assert recorder.last(config_topic("02")) not in (None, "")
    published_under_02 = {topic for topic, _ in recorder.published if "/battery_module/02/" in topic}
    announcer.batteries(SERIAL, parse_battery_bank(answer(module("Battery_ID_01", 0)), SERIAL))
    assert recorder.last(config_topic("02")) == ""
    assert {recorder.last(topic) for topic in published_under_02} == {""}
    assert recorder.last(topics.state(SERIAL, "battery_module/01/soc")) == "67"
    assert recorder.last(config_topic("01")) != ""


def test_an_offline_bank_keeps_its_modules_and_says_they_are_unavailable() -> None:
    announcer, recorder, topics = announced(module("Battery_ID_01", 0))
    announcer.batteries(SERIAL, BatteryBank(serial=SERIAL, lost=True))
    assert recorder.last(config_topic("01")) != ""
    assert recorder.last(topics.state(SERIAL, "battery_module/01/availability")) == "offline"
    assert recorder.last(topics.state(SERIAL, "battery_module/01/soc")) == "67"


def test_a_lost_module_is_unavailable_and_its_values_kept() -> None:
    announcer, recorder, topics = announced(module("Battery_ID_01", 0))
    announcer.batteries(
        SERIAL, parse_battery_bank(answer(module("Battery_ID_01", 0, lost=True, soc=5)), SERIAL)
    )
    assert recorder.last(topics.state(SERIAL, "battery_module/01/availability")) == "offline"
    assert recorder.last(topics.state(SERIAL, "battery_module/01/soc")) == "67"


def group_fleet() -> Fleet:
    settings = Settings.model_validate({"cloud": {"username": "someone", "password": "secret"}})
    fleet = Fleet(settings)
    for serial in ("4512345600", "4512345601", "4512345602"):
        group = None if serial.endswith("2") else "4100_A"
        fleet.add(Device(serial, "18KPV", family=Family.EG4_HYBRID, parallel_group=group))
    return fleet


def runtime(serial: str, pv: int, *, lost: bool = False) -> Runtime:
    return Runtime.model_validate(
        {"serialNum": serial, "ppv": pv, "pCharge": 100, "pDisCharge": 0, "lost": lost}
    )


def test_a_group_sums_its_inverters_and_says_nothing_while_one_is_away() -> None:
    fleet = group_fleet()
    assert fleet.groups() == {"4100_A": ["4512345600", "4512345601"]}
    assert fleet.group_totals(fleet.groups().get("4100_A", [])) is None  # nothing read yet
    fleet["4512345600"].runtime = runtime("4512345600", 1200)
    fleet["4512345601"].runtime = runtime("4512345601", 800)
    fleet["4512345602"].runtime = runtime("4512345602", 5000)  # not in the group
    totals = fleet.group_totals(fleet.groups().get("4100_A", []))
    assert totals is not None
    assert (totals.pv_power, totals.battery_power, totals.pv_today) == (2000, 200, None)
    fleet["4512345600"].energy = Energy.model_validate({"serialNum": "4512345600", "todayYielding": 15})
    fleet["4512345601"].energy = Energy.model_validate({"serialNum": "4512345601", "todayYielding": 20})
    totals = fleet.group_totals(fleet.groups().get("4100_A", []))
    assert totals is not None
    assert totals.pv_today == 3.5
    fleet["4512345601"].runtime = runtime("4512345601", 0, lost=True)
    assert fleet.group_totals(fleet.groups().get("4100_A", [])) is None
