"""Quick charge (issue 21) at the bridge's own seams: its row, the router's ways to it (the cloud's own
endpoints, register 233 bit 0), and the simulator's model of both."""

from __future__ import annotations

import pytest

from bridge.core.catalogue import QUICK_CHARGE_RUNNING, setting_by_topic_path
from bridge.core.errors import CommandRefused
from bridge.core.families import Family
from bridge.core.kinds import Offer, SwitchSetting
from bridge.core.writes import Delivery
from bridge.service.tables import tables
from bridge.simulator.answers import quick_charge_status_answer, runtime_answer
from bridge.simulator.dongle import SimulatedDongles
from bridge.simulator.state import SimulatorState
from bridge.transports.local import registers
from tests.unit.test_router import SERIAL, routed

QUICK_CHARGE = setting_by_topic_path("battery/quick_charge")


def quick_charge() -> SwitchSetting:
    assert isinstance(QUICK_CHARGE, SwitchSetting)
    return QUICK_CHARGE


def test_the_row_is_a_switch_on_bit_0_of_register_233_started_through_the_clouds_quick_charge_endpoints() -> (
    None
):
    row = quick_charge()
    assert (row.key, row.name, row.endpoints, row.func_param) == (
        "battery_quick_charge", "Quick Charge", "quickCharge", "hasUnclosedQuickChargeTask",
    )  # fmt: skip
    flag = registers.HOLDING[QUICK_CHARGE_RUNNING]
    assert isinstance(flag, registers.Flag)
    assert (flag.register, flag.bit) == (233, 0)
    assert (row.parse(b"on"), row.parse(b"0")) == ("ON", "OFF")
    with pytest.raises(CommandRefused, match="Quick Charge takes ON or OFF"):
        row.parse(b"30")  # no duration: the sources give none the bridge could read back


def test_it_is_offered_on_the_eg4_hybrid_and_luxpower_families_and_not_on_the_off_grid_one() -> None:
    provenance = quick_charge().provenance
    assert provenance.offer(Family.EG4_HYBRID) == (Offer.OFFERED, "")
    assert provenance.offer(Family.LUXPOWER) == (Offer.OFFERED, "")
    offer, why = provenance.offer(Family.EG4_OFF_GRID)
    assert offer is Offer.ABSENT
    assert why.startswith("the 12000XP's firmware refuses register 233")
    assert provenance.offer(Family.UNKNOWN)[0] is Offer.ABSENT
    assert "its duration is not offered" in provenance.note.lower()


def test_the_readme_table_names_the_endpoints_not_function_control() -> None:
    row = next(line for line in tables().splitlines() if "`battery/quick_charge`" in line)
    assert "`quickCharge/start`, `/stop` (state: `hasUnclosedQuickChargeTask`)" in row
    assert "233, bit 0" in row
    assert "functionControl" not in row


async def test_through_the_cloud_on_starts_and_off_stops_and_the_status_answer_reads_it_back() -> None:
    r = routed("cloud")
    assert await r.router.write(SERIAL, quick_charge(), "ON") == Delivery(1, "cloud")
    assert await r.router.read(SERIAL, quick_charge()) == "ON"
    assert await r.router.write(SERIAL, quick_charge(), "OFF") == Delivery(1, "cloud")
    assert await r.router.read(SERIAL, quick_charge()) == "OFF"
    assert r.cloud.calls == [
        ("action", SERIAL, "quickCharge", True),
        ("action_running", SERIAL, "quickCharge", True),  # a command's read-back: urgent
        ("action", SERIAL, "quickCharge", False),
        ("action_running", SERIAL, "quickCharge", True),
    ]
    assert r.registers.requests == []


@pytest.mark.parametrize("mode", ["local", "hybrid"])
async def test_through_the_dongle_bit_0_of_register_233_is_set_with_its_neighbours_kept(mode: str) -> None:
    r = routed(mode)
    r.registers.holding[233] = 0b1_0000_0000_0010  # battery backup (bit 1) and bit 12 on
    assert await r.router.read(SERIAL, quick_charge()) == "OFF"
    assert await r.router.write(SERIAL, quick_charge(), "ON") == Delivery(1, "dongle")
    assert r.registers.holding[233] == 0b1_0000_0000_0011
    assert await r.router.read(SERIAL, quick_charge()) == "ON"
    await r.router.write(SERIAL, quick_charge(), "OFF")
    assert r.registers.holding[233] == 0b1_0000_0000_0010
    assert r.cloud.calls == []


def test_the_simulated_cloud_and_dongle_share_one_quick_charge() -> None:
    state = SimulatorState(inverter_count=1, models=("18KPV",))
    inverter = state.inverters["4512345600"]
    idle = quick_charge_status_answer(inverter)
    assert idle == {
        "success": True, "hasUnclosedQuickChargeTask": False, "hasUnclosedQuickDischargeTask": False,
        "remainTimeBeforeQuickChargeStop": 0, "lowVoltProtect": False,
    }  # fmt: skip
    assert state.set_quick_charge(inverter.serial, True) is None
    running = quick_charge_status_answer(inverter)
    assert (running["hasUnclosedQuickChargeTask"], running["unclosedQuickChargeTaskStatus"]) == (
        True,
        "WAIT_CHARGE",
    )
    inverter.advance(inverter.last_update)  # the runtime answer's powers, as the cloud's handler does first
    assert runtime_answer(inverter)["hasUnclosedQuickChargeTask"] is True
    assert running["remainTimeBeforeQuickChargeStop"] == 0, "started through the cloud: until stopped"
    dongles = SimulatedDongles(state)
    assert dongles.holding(inverter)[233] & 1 == 1
    assert dongles.apply(inverter, {233: dongles.holding(inverter)[233] & ~1}) is None
    assert quick_charge_status_answer(inverter)["hasUnclosedQuickChargeTask"] is False
    assert dongles.apply(inverter, {233: dongles.holding(inverter)[233] | 1}) is None
    local = quick_charge_status_answer(inverter)
    assert 3590 <= local["remainTimeBeforeQuickChargeStop"] <= 3600, "the firmware's default 60 minutes"


def test_the_simulated_off_grid_model_refuses_register_233_through_its_dongle() -> None:
    state = SimulatorState(inverter_count=1, models=("12000XP",))
    inverter = state.inverters["4512345600"]
    assert SimulatedDongles(state).apply(inverter, {233: 1}) == 2  # ILLEGAL DATA ADDRESS
    assert inverter.quick_charge_task is None
    assert state.writes == []


def test_a_simulated_write_of_register_233s_other_bits_leaves_a_running_quick_charge_be() -> None:
    state = SimulatorState(inverter_count=1, models=("18KPV",))
    inverter = state.inverters["4512345600"]
    state.set_quick_charge(inverter.serial, True)
    task, state.writes = inverter.quick_charge_task, []
    dongles = SimulatedDongles(state)
    assert dongles.apply(inverter, {233: dongles.holding(inverter)[233] | 0b10}) is None  # battery backup on
    assert inverter.quick_charge_task == task
    assert state.writes == [(inverter.serial, "FUNC_BATTERY_BACKUP_CTRL", "true")]
