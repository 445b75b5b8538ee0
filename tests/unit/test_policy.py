"""The command policy (`decide`): a command and what is known of its inverter in, the write it asks for or the
reason to refuse it out. Reading the payload is tests/unit/test_payloads.py; the result message,
tests/unit/test_results.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.core.catalogue import setting_by_topic_path
from bridge.core.commands import Command
from bridge.core.config import InverterSettings, ThermalGuardSettings
from bridge.core.errors import CommandRefused
from bridge.core.families import Family
from bridge.core.policy import Situation, decide

pytestmark = pytest.mark.unit

SERIAL = "4512345600"
DISCHARGE = "battery/discharge_current"
WINDOW = "ac_charge/window_1"
EPS = "eps/enabled"

GUARD_OFF = ThermalGuardSettings()
GUARD = ThermalGuardSettings(enabled=True, max_temperature=45, derated_current=50)
SMALL_GUARD = ThermalGuardSettings(enabled=True, max_temperature=45, derated_current=5)

READY = Situation(ready=True, stopping=False, known_inverter=True, held={"battery_charge_current": "100"})
STOPPING = Situation(ready=True, stopping=True, known_inverter=True)
STARTING = Situation(ready=False, stopping=False, known_inverter=True)
UNKNOWN_INVERTER = Situation(ready=True, stopping=False, known_inverter=False)
EVERYTHING_WRONG = Situation(ready=False, stopping=True, known_inverter=False)
READ_ONLY = Situation(
    ready=True, stopping=False, known_inverter=True, limits=InverterSettings(read_only=True)
)
LIMITED = Situation(
    ready=True, stopping=False, known_inverter=True, limits=InverterSettings(max_charge_current=100)
)
BEFORE_ANY_READ = Situation(ready=True, stopping=False, known_inverter=True, offered=None)
NO_WINDOWS = Situation(
    ready=True, stopping=False, known_inverter=True, offered=frozenset({"battery_charge_current"})
)
EPS_EXPOSED = Situation(ready=True, stopping=False, known_inverter=True, exposed=frozenset({"eps_enabled"}))
OTHER_EXPOSED = Situation(
    ready=True, stopping=False, known_inverter=True, exposed=frozenset({"grid_off_grid"})
)


def command(
    payload: str, path: str = "battery/charge_current", *, retained: bool = False, serial: str = SERIAL
) -> Command:
    return Command(f"eg4/{serial}/{path}/set", serial, path, payload.encode(), retained)


def battery(temperature: float | None, held: int | None = 100) -> Situation:
    """Ready, with the battery at `temperature` and the inverter holding a charge current of `held`."""
    return Situation(
        ready=True,
        stopping=False,
        known_inverter=True,
        held={} if held is None else {"battery_charge_current": str(held)},
        battery_temperature=temperature,
        family=Family.EG4_HYBRID,  # an 18kPV: AC charge is its (not every family's)
    )


HOT, COOL = battery(46), battery(45)
#: Far above the threshold, with no charge current known held.
SCORCHING = battery(60, held=None)


def refusal(sent: Command, situation: Situation, guard: ThermalGuardSettings) -> str:
    with pytest.raises(CommandRefused) as refused:
        decide(sent, situation, guard)
    return str(refused.value)


@pytest.mark.parametrize(
    ("sent", "situation", "guard", "value"),
    [
        pytest.param(command("80"), READY, GUARD_OFF, "80", id="charge current"),
        pytest.param(command("120", DISCHARGE), READY, GUARD_OFF, "120", id="discharge current"),
        pytest.param(command("100"), LIMITED, GUARD_OFF, "100", id="up to the limit in the config"),
        pytest.param(
            command("200", DISCHARGE), LIMITED, GUARD_OFF, "200", id="a charge limit leaves discharge"
        ),
        pytest.param(command("120"), COOL, GUARD, "120", id="guard: at the threshold is not above it"),
        pytest.param(command("50"), HOT, GUARD, "50", id="guard: up to the derated current"),
        pytest.param(
            command("50"), battery(46, held=25), GUARD, "50", id="guard: raised to the derated current"
        ),
        pytest.param(command("90"), HOT, GUARD, "90", id="guard: lowering what is held"),
        pytest.param(command("100"), HOT, GUARD, "100", id="guard: keeping what is held"),
        pytest.param(command("120"), HOT, GUARD_OFF, "120", id="guard: off unless enabled"),
        pytest.param(
            command("10", "ac_charge/power"),
            SCORCHING,
            SMALL_GUARD,
            "10.0",
            id="guard: not AC power",
        ),
        pytest.param(
            command("ON", "ac_charge/enabled"),
            SCORCHING,
            SMALL_GUARD,
            "ON",
            id="guard: not a switch",
        ),
        pytest.param(
            command("01:00-05:00", WINDOW), BEFORE_ANY_READ, GUARD_OFF, "01:00-05:00", id="before any read"
        ),
        pytest.param(command("80"), NO_WINDOWS, GUARD_OFF, "80", id="a setting the model has"),
        pytest.param(
            command("OFF", EPS), EPS_EXPOSED, GUARD_OFF, "OFF", id="a protection control.expose names"
        ),
    ],
)
def test_an_allowed_command_becomes_the_write_it_asks_for(
    sent: Command, situation: Situation, guard: ThermalGuardSettings, value: str
) -> None:
    written = decide(sent, situation, guard)
    assert (written.setting, written.value) == (setting_by_topic_path(sent.topic_path), value)


@pytest.mark.parametrize(("payload", "value"), [("80.01", 80), ("79.99", 80), ("80.004", 80), ("0.01", 0)])
def test_within_one_hundredth_of_a_whole_number_is_that_number(payload: str, value: int) -> None:
    assert decide(command(payload), READY, GUARD_OFF).value == str(value)


@pytest.mark.parametrize("payload", ["80.011", "80.012", "80.015", "79.988", "80.5"])
def test_further_than_one_hundredth_is_refused(payload: str) -> None:
    assert refusal(command(payload), READY, GUARD_OFF) == (
        f"Battery Charge Current must be a whole number of A between 0 and 250, got {payload}"
    )


# The order of refusals: retained before anything; then the bridge's own state; then what the command names;
# then the value.
@pytest.mark.parametrize(
    ("sent", "situation", "guard", "reason"),
    [
        pytest.param(
            command("80", retained=True),
            READY,
            GUARD_OFF,
            "retained command ignored: publish /set without the retain flag",
            id="retained",
        ),
        pytest.param(
            command("abc", retained=True),
            EVERYTHING_WRONG,
            GUARD_OFF,
            "retained command ignored: publish /set without the retain flag",
            id="retained, before anything else",
        ),
        pytest.param(
            command("80"),
            STOPPING,
            GUARD_OFF,
            "the bridge is shutting down; nothing was written",
            id="stopping",
        ),
        pytest.param(
            command("80"),
            STARTING,
            GUARD_OFF,
            "the bridge is still starting; try again shortly",
            id="starting",
        ),
        pytest.param(
            command("abc"),
            UNKNOWN_INVERTER,
            GUARD_OFF,
            f"unknown inverter {SERIAL}",
            id="unknown inverter, before the value",
        ),
        pytest.param(
            command("80", serial=""), UNKNOWN_INVERTER, GUARD_OFF, "unknown inverter (none)", id="no serial"
        ),
        pytest.param(
            command("80", "battery/soc"),
            READY,
            GUARD_OFF,
            f"unknown setting battery/soc: not one the bridge writes on {SERIAL} (see the README's topic table)",
            id="unknown setting",
        ),
        pytest.param(
            command("80", ""),
            READY,
            GUARD_OFF,
            f"unknown setting (none): not one the bridge writes on {SERIAL} (see the README's topic table)",
            id="no setting",
        ),
        pytest.param(
            command("OFF", EPS),
            READY,
            GUARD_OFF,
            "Backup Output (EPS) changes a protection: the bridge writes it only when control.expose names eps_enabled",
            id="a protection not exposed",
        ),
        pytest.param(
            command("80"),
            READ_ONLY,
            GUARD_OFF,
            f"read-only: the bridge is configured not to write to {SERIAL}",
            id="read-only",
        ),
        pytest.param(
            command("101"),
            LIMITED,
            GUARD_OFF,
            "Battery Charge Current must be between 0 and 100 A (the limit set in the bridge's config), got 101",
            id="above the limit in the config",
        ),
        pytest.param(
            command("abc"),
            READY,
            GUARD_OFF,
            "Battery Charge Current must be a number such as 80, got 'abc'",
            id="not a number",
        ),
        pytest.param(
            command(""), READY, GUARD_OFF, "empty payload: send a number of A, such as 80", id="empty"
        ),
        pytest.param(
            command("120"),
            HOT,
            GUARD,
            "thermal guard: the battery is at 46 °C, above 45 °C, so Battery Charge Current may not be raised above 50 A",
            id="guard: hot",
        ),
        pytest.param(
            command("60"),
            battery(None, held=25),
            GUARD,
            "thermal guard: the battery temperature is unknown, so Battery Charge Current may not be raised above 50 A",
            id="guard: temperature unknown",
        ),
    ],
)
def test_a_refusal_says_why_in_exact_words(
    sent: Command, situation: Situation, guard: ThermalGuardSettings, reason: str
) -> None:
    assert refusal(sent, situation, guard) == reason


@pytest.mark.parametrize(
    ("sent", "situation", "guard", "beginning"),
    [
        pytest.param(
            command("101"),
            HOT,
            GUARD,
            "thermal guard: the battery is at 46 °C",
            id="guard: above what is held",
        ),
        pytest.param(
            command("60"), battery(46, held=None), GUARD, "thermal guard", id="guard: nothing held known"
        ),
        pytest.param(
            command("51"), battery(46, held=25), GUARD, "thermal guard", id="guard: above the derated current"
        ),
        pytest.param(command("10"), SCORCHING, SMALL_GUARD, "thermal guard", id="guard: a battery current"),
        pytest.param(
            command("01:00-05:00", WINDOW),
            NO_WINDOWS,
            GUARD_OFF,
            f"AC Charge Window 1 is not offered on {SERIAL}: the parameters read from it do not",
            id="a setting the model lacks, once its settings were read",
        ),
        pytest.param(
            command("OFF", EPS),
            OTHER_EXPOSED,
            GUARD_OFF,
            "Backup Output (EPS) changes a protection",
            id="a protection while another is exposed",
        ),
    ],
)
def test_a_refusal_names_the_rule_it_breaks(
    sent: Command, situation: Situation, guard: ThermalGuardSettings, beginning: str
) -> None:
    assert refusal(sent, situation, guard).startswith(beginning)


GRIDBOSS = Situation(
    ready=True,
    stopping=False,
    known_inverter=True,
    model="Grid Boss",
    family=Family.GRIDBOSS,
    offered=frozenset({"smart_port_1_mode"}),
    exposed=frozenset({"smart_port_1_mode"}),
)


def test_a_smart_port_mode_exposed_and_read_from_a_gridboss_is_written() -> None:
    write = decide(command("ac_couple", "smart_port/1/mode"), GRIDBOSS, GUARD)
    assert (write.setting.key, write.value) == ("smart_port_1_mode", "ac_couple")


@pytest.mark.parametrize("offered", [None, frozenset({"battery_charge_current"})])
def test_an_inverter_never_gets_a_gridboss_setting_whatever_was_read(offered: frozenset[str] | None) -> None:
    """Before its settings were read (`offered` unknown) too: a smart port mode sent to an inverter."""
    inverter = replace(READY, model="18KPV", family=Family.EG4_HYBRID, offered=offered,
                       exposed=frozenset({"smart_port_1_mode"}))  # fmt: skip
    with pytest.raises(
        CommandRefused, match=r"^Smart Port 1 Mode is a GridBOSS setting, and 18KPV is not a GridBOSS$"
    ):
        decide(command("unused", "smart_port/1/mode"), inverter, GUARD)


def test_a_gridboss_never_gets_an_inverters_setting() -> None:
    with pytest.raises(
        CommandRefused, match=r"^Battery Charge Current is an inverter setting, and Grid Boss is a GridBOSS$"
    ):
        decide(command("50"), replace(GRIDBOSS, offered=frozenset()), GUARD)


def test_a_smart_port_mode_not_exposed_is_refused_as_a_protection() -> None:
    with pytest.raises(CommandRefused, match=r"only when control\.expose names smart_port_1_mode"):
        decide(command("unused", "smart_port/1/mode"), replace(GRIDBOSS, exposed=frozenset()), GUARD)


def test_a_setting_the_bridge_declines_is_refused_saying_why() -> None:
    """PV input mode is left out for lack of agreeing sources: a `/set` to the topic an owner would guess
    says so, and why, rather than calling it unknown."""
    reason = refusal(command("3", "pv/input_mode"), READY, GUARD_OFF)
    assert reason.startswith("PV Input Mode is not offered by the bridge, and nothing was written: ")
    assert "0-7 for the 12K hybrid" in reason
    assert "register 234" in refusal(command("30", "battery/quick_charge_duration"), READY, GUARD_OFF)


@pytest.mark.parametrize(
    ("path", "payload", "family", "reason"),
    [
        ("off_grid/window_1", "02:00-03:00", Family.LUXPOWER, "no Luxpower source names registers 269-274"),
        ("peak_shaving/window_1", "17:00-21:00", Family.EG4_OFF_GRID, "the off-grid models have no grid"),
        ("ac_charge/enabled", "ON", Family.UNKNOWN, "the model is not identified"),
    ],
)
def test_a_family_that_lacks_a_setting_is_refused_it_even_before_its_settings_were_read(
    path: str, payload: str, family: Family, reason: str
) -> None:
    """Before the first settings read (`offered` unknown) the family alone still says no: nothing reaches
    registers the family's sources do not name, whatever `control.expose` opens."""
    situation = Situation(
        ready=True, stopping=False, known_inverter=True, offered=None, family=family,
        exposed=frozenset({"off_grid_window_1"}),
    )  # fmt: skip
    assert reason in refusal(command(payload, path), situation, GUARD_OFF)
