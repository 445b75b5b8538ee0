"""The command policy and the payload rule: a command and what is known in, a value or a reason out."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bridge.core.catalogue import BATTERY_CHARGE_CURRENT, BATTERY_DISCHARGE_CURRENT
from bridge.core.commands import MAX_PAYLOAD_BYTES, Command, Outcome, Result, read_number, result_payload
from bridge.core.config import InverterSettings, ThermalGuardSettings
from bridge.core.errors import CommandRefused
from bridge.core.policy import Situation, Write, decide

SERIAL = "4512345600"
GUARD_OFF = ThermalGuardSettings()
GUARD = ThermalGuardSettings(enabled=True, max_temperature=45, derated_current=50)
READY = Situation(ready=True, stopping=False, known_inverter=True, held={"battery_charge_current": "100"})


def command(payload: bytes | str, path: str = "battery/charge_current", *, retained: bool = False) -> Command:
    data = payload.encode() if isinstance(payload, str) else payload
    return Command(f"eg4/{SERIAL}/{path}/set", SERIAL, path, data, retained)


def refusal(
    payload: bytes | str, situation: Situation = READY, guard: ThermalGuardSettings = GUARD_OFF
) -> str:
    with pytest.raises(CommandRefused) as refused:
        decide(command(payload), situation, guard)
    return str(refused.value)


def test_a_valid_command_becomes_the_write_it_asks_for() -> None:
    assert decide(command("80"), READY, GUARD_OFF) == Write(BATTERY_CHARGE_CURRENT, "80")
    discharge = decide(command("120", "battery/discharge_current"), READY, GUARD_OFF)
    assert discharge == Write(BATTERY_DISCHARGE_CURRENT, "120")


@pytest.mark.parametrize(("payload", "value"), [("80.01", 80), ("79.99", 80), ("80.004", 80), ("0.01", 0)])
def test_within_one_hundredth_of_a_whole_number_is_that_number(payload: str, value: int) -> None:
    assert decide(command(payload), READY, GUARD_OFF).value == str(value)


@pytest.mark.parametrize("payload", ["80.011", "80.012", "80.015", "79.988", "80.5"])
def test_further_than_one_hundredth_is_refused(payload: str) -> None:
    assert refusal(payload) == (
        f"Battery Charge Current must be a whole number of A between 0 and 250, got {payload}"
    )


def test_the_order_of_refusals() -> None:
    """Retained before anything; then the bridge's own state; then what the command names; then the value."""
    with pytest.raises(CommandRefused, match="retained command ignored"):
        decide(
            command("abc", retained=True),
            Situation(ready=False, stopping=True, known_inverter=False),
            GUARD_OFF,
        )
    assert refusal("80", Situation(ready=True, stopping=True, known_inverter=True)) == (
        "the bridge is shutting down; nothing was written"
    )
    assert refusal("80", Situation(ready=False, stopping=False, known_inverter=True)) == (
        "the bridge is still starting; try again shortly"
    )
    assert refusal("abc", Situation(ready=True, stopping=False, known_inverter=False)) == (
        f"unknown inverter {SERIAL}"
    )
    with pytest.raises(CommandRefused) as unknown:
        decide(command("80", "battery/soc"), READY, GUARD_OFF)
    assert str(unknown.value) == (
        f"unknown setting battery/soc: not one the bridge writes on {SERIAL} (see the README's topic table)"
    )


def test_read_only_and_limits() -> None:
    read_only = Situation(
        ready=True, stopping=False, known_inverter=True, limits=InverterSettings(read_only=True)
    )
    assert refusal("80", read_only) == f"read-only: the bridge is configured not to write to {SERIAL}"
    limited = Situation(
        ready=True, stopping=False, known_inverter=True, limits=InverterSettings(max_charge_current=100)
    )
    assert decide(command("100"), limited, GUARD_OFF).value == "100"
    assert refusal("101", limited) == (
        "Battery Charge Current must be between 0 and 100 A (the limit set in the bridge's config), got 101"
    )
    assert decide(command("200", "battery/discharge_current"), limited, GUARD_OFF).value == "200"


def situation(temperature: float | None, held: int | None = 100) -> Situation:
    return Situation(
        ready=True,
        stopping=False,
        known_inverter=True,
        held={} if held is None else {"battery_charge_current": str(held)},
        battery_temperature=temperature,
    )


def test_the_thermal_guard() -> None:
    hot, cool = situation(46), situation(45)
    assert refusal("120", hot, GUARD) == (
        "thermal guard: the battery is at 46 °C, above 45 °C, so Battery Charge Current may not be raised above 50 A"
    )
    assert decide(command("120"), cool, GUARD).value == "120", "at the threshold is not above it"
    assert decide(command("50"), hot, GUARD).value == "50", "up to the derated current is allowed"
    assert decide(command("90"), hot, GUARD).value == "90", "lowering from 100 is allowed"
    assert decide(command("100"), hot, GUARD).value == "100", "keeping what is held is allowed"
    assert refusal("101", hot, GUARD).startswith("thermal guard: the battery is at 46 °C")
    assert refusal("60", situation(None, held=25), GUARD) == (
        "thermal guard: the battery temperature is unknown, so Battery Charge Current may not be raised above 50 A"
    )
    assert refusal("60", situation(46, held=None), GUARD).startswith("thermal guard")
    assert decide(command("120"), hot, GUARD_OFF).value == "120", "off unless enabled"


# -- the payload rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "number"),
    [
        ("80", "80"),
        (" 80\n", "80"),
        ("+80", "80"),
        ("080", "80"),
        ("007", "7"),
        ("00", "0"),
        ("80.", "80"),
        (".5e2", "50"),
        ("8E1", "80"),
        ("-0", "0"),
    ],
)
def test_numbers_in_every_decimal_notation_are_read(payload: str, number: str) -> None:
    """The rule, as the README says it: a decimal number, optionally signed, with or without a fraction or
    an exponent; leading zeros are allowed (`007` is 7)."""
    assert read_number(payload.encode(), BATTERY_CHARGE_CURRENT) == Decimal(number)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", "empty payload: send a number of A, such as 80"),
        ("   ", "empty payload: send a number of A, such as 80"),
        ("0x50", "Battery Charge Current must be a number such as 80, got '0x50'"),
        ("1_000", "Battery Charge Current must be a number such as 80, got '1_000'"),
        ("80 A", "Battery Charge Current must be a number such as 80, got '80 A'"),
        ("٨٠", "Battery Charge Current must be a number such as 80, got '٨٠'"),
        ("nan", "Battery Charge Current must be a finite number, got nan"),
        ("-Infinity", "Battery Charge Current must be a finite number, got -Infinity"),
        ("x" * 65, f"payload too long (65 bytes; at most {MAX_PAYLOAD_BYTES})"),
    ],
)
def test_anything_else_is_refused_saying_why(payload: str, reason: str) -> None:
    with pytest.raises(CommandRefused) as refused:
        read_number(payload.encode(), BATTERY_CHARGE_CURRENT)
    assert str(refused.value) == reason


def test_a_payload_of_exactly_the_limit_is_read() -> None:
    assert read_number(b"0" * (MAX_PAYLOAD_BYTES - 2) + b"80", BATTERY_CHARGE_CURRENT) == 80


def test_binary_is_refused() -> None:
    with pytest.raises(CommandRefused, match="payload is not UTF-8 text"):
        read_number(b"\xff\xfe80", BATTERY_CHARGE_CURRENT)


# -- the result message ----------------------------------------------------------------------------------


def test_a_result_says_ok_only_when_confirmed_without_error() -> None:
    accepted = json.loads(
        result_payload(
            command("80"), Result(Outcome.ACCEPTED, value=80, applied=True, confirmed=True, attempts=1)
        )
    )
    assert {key: value for key, value in accepted.items() if key != "ts"} == {
        "ok": True,
        "outcome": "accepted",
        "value": 80,
        "requested": "80",
        "error": None,
        "applied": True,
        "confirmed": True,
        "attempts": 1,
    }
    unconfirmed = json.loads(
        result_payload(command("80"), Result(Outcome.UNCONFIRMED, value=80, applied=True))
    )
    assert unconfirmed["ok"] is False
    found = json.loads(
        result_payload(command("80"), Result(Outcome.RECHECKED, value=80, found=25, error="no"))
    )
    assert (found["found"], found["ok"]) == (25, False)
    assert found["ts"].endswith("Z")


def test_a_result_says_which_way_the_write_went_once_one_was_sent() -> None:
    local = json.loads(result_payload(command("80"), Result(Outcome.ACCEPTED, value=80, via="dongle")))
    assert local["via"] == "dongle"
    assert list(local)[-2:] == ["via", "ts"]
    refused = json.loads(result_payload(command("x"), Result(Outcome.REFUSED, error="not a number")))
    assert "via" not in refused  # nothing was sent anywhere


def test_a_result_cuts_long_texts_short() -> None:
    long = json.loads(result_payload(command("8" * 70), Result(Outcome.FAILED, error="e" * 1000)))
    assert long["error"] == "e" * 300 + "…"
    assert long["requested"] == "8" * 64 + "…"


def test_the_exact_words_of_each_refusal() -> None:
    with pytest.raises(CommandRefused) as retained:
        decide(command("80", retained=True), READY, GUARD_OFF)
    assert str(retained.value) == "retained command ignored: publish /set without the retain flag"
    nameless = Command("eg4//battery/charge_current/set", "", "battery/charge_current", b"80", False)
    with pytest.raises(CommandRefused) as no_serial:
        decide(nameless, Situation(ready=True, stopping=False, known_inverter=False), GUARD_OFF)
    assert str(no_serial.value) == "unknown inverter (none)"
    with pytest.raises(CommandRefused) as no_path:
        decide(command("80", ""), READY, GUARD_OFF)
    assert str(no_path.value) == (
        f"unknown setting (none): not one the bridge writes on {SERIAL} (see the README's topic table)"
    )
    assert refusal("abc") == "Battery Charge Current must be a number such as 80, got 'abc'"
    assert refusal("") == "empty payload: send a number of A, such as 80"
    with pytest.raises(CommandRefused) as binary:
        read_number(b"\xff", BATTERY_CHARGE_CURRENT)
    assert str(binary.value) == "payload is not UTF-8 text"


def test_a_long_bad_payload_is_quoted_up_to_32_characters() -> None:
    text = "a" * 40
    assert refusal(text) == f"Battery Charge Current must be a number such as 80, got {'a' * 32!r}"


def test_the_derated_current_itself_may_be_set_while_hot() -> None:
    assert decide(command("50"), situation(46, held=25), GUARD).value == "50"
    assert refusal("51", situation(46, held=25), GUARD).startswith("thermal guard")


def test_a_result_keeps_an_error_of_exactly_the_limit_and_writes_text_unescaped() -> None:
    exact = json.loads(result_payload(command("80"), Result(Outcome.FAILED, error="e" * 300)))
    assert exact["error"] == "e" * 300
    text = result_payload(command("é"), Result(Outcome.REFUSED, error="ü"))
    assert '"requested": "é"' in text
    assert '"error": "ü"' in text


def test_a_setting_the_model_lacks_is_unknown_once_its_settings_were_read() -> None:
    from bridge.core.catalogue import setting_by_topic_path

    window = command("01:00-05:00", "ac_charge/window_1")
    before_any_read = Situation(ready=True, stopping=False, known_inverter=True, offered=None)
    written = decide(window, before_any_read, GUARD_OFF)
    assert (written.setting, written.value) == (setting_by_topic_path("ac_charge/window_1"), "01:00-05:00")
    lacking = Situation(
        ready=True, stopping=False, known_inverter=True, offered=frozenset({"battery_charge_current"})
    )
    with pytest.raises(
        CommandRefused,
        match=r"^AC Charge Window 1 is not offered on 4512345600: the parameters read from it do not",
    ):
        decide(window, lacking, GUARD_OFF)
    assert decide(command("80"), lacking, GUARD_OFF).value == "80"


def test_a_protection_setting_only_when_exposed() -> None:
    eps = command("OFF", "eps/enabled")
    with pytest.raises(CommandRefused) as refused:
        decide(eps, READY, GUARD_OFF)
    assert str(refused.value) == (
        "Backup Output (EPS) changes a protection: the bridge writes it only when control.expose names eps_enabled"
    )
    exposed = Situation(ready=True, stopping=False, known_inverter=True, exposed=frozenset({"eps_enabled"}))
    assert decide(eps, exposed, GUARD_OFF).value == "OFF"
    other = Situation(ready=True, stopping=False, known_inverter=True, exposed=frozenset({"grid_off_grid"}))
    with pytest.raises(CommandRefused, match="changes a protection"):
        decide(eps, other, GUARD_OFF)


def test_the_thermal_guard_concerns_the_battery_currents_only() -> None:
    guard = ThermalGuardSettings(enabled=True, max_temperature=45, derated_current=5)
    hot = situation(60, held=None)
    assert decide(command("10", "ac_charge/power"), hot, guard).value == "10.0"
    assert decide(command("ON", "ac_charge/enabled"), hot, guard).value == "ON"
    with pytest.raises(CommandRefused, match="thermal guard"):
        decide(command("10"), hot, guard)
