"""Model families and the rows' per-family truth: which family a device is, which settings each family is
offered, that each setting's register is stated in its row alone, and the rules between settings."""

from __future__ import annotations

import ast
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.core.catalogue import (
    ENERGY_SENSORS,
    SETTINGS,
    retired_setting_message,
    setting_by_key,
    setting_by_topic_path,
)
from bridge.core.commands import Command
from bridge.core.config import InverterSettings, Settings, ThermalGuardSettings
from bridge.core.devices import Device
from bridge.core.encodings import Scaled
from bridge.core.errors import CommandRefused
from bridge.core.families import Family, family_of_code, family_of_model, identify, model_name
from bridge.core.fleet import Fleet
from bridge.core.kinds import NumberSetting, Offer, Risk, offered_in_family
from bridge.core.policy import Situation, decide
from bridge.core.readings import Energy
from bridge.mqtt.announcer import Announcer
from bridge.mqtt.discovery import number_bounds
from bridge.mqtt.topics import Topics
from bridge.transports.local import registers

pytestmark = pytest.mark.unit

BRIDGE = Path(__file__).parent.parent.parent / "bridge"
SERIAL = "4512345600"
GUARD_OFF = ThermalGuardSettings()
CLOUD = {"username": "someone", "password": "secret"}


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("18KPV", Family.EG4_HYBRID),
        ("12KPV", Family.EG4_HYBRID),
        ("FlexBOSS21", Family.EG4_HYBRID),
        ("flexboss18", Family.EG4_HYBRID),
        ("12000XP", Family.EG4_OFF_GRID),
        ("12000XP-US V2", Family.EG4_OFF_GRID),
        ("EG4-6000XP", Family.EG4_OFF_GRID),
        ("SNA-US 12K", Family.EG4_OFF_GRID),
        ("LXP-LB-8K", Family.LUXPOWER),
        ("LXP-EU 3650", Family.LUXPOWER),
        ("Grid Boss", Family.UNKNOWN),
        ("inverter", Family.UNKNOWN),
        ("", Family.UNKNOWN),
    ],
)
def test_the_family_of_each_model_name_the_cloud_spells(model: str, family: Family) -> None:
    assert family_of_model(model) is family


@pytest.mark.parametrize(
    ("code", "family"),
    [
        ("2092", Family.EG4_HYBRID),
        (10284, Family.EG4_HYBRID),
        ("54", Family.EG4_OFF_GRID),
        ("38", Family.EG4_OFF_GRID),
        ("12", Family.LUXPOWER),
        (44, Family.LUXPOWER),
        ("50", Family.UNKNOWN),  # the GridBOSS
        ("9999", Family.UNKNOWN),
        ("x", Family.UNKNOWN),
        (True, Family.UNKNOWN),
        (None, Family.UNKNOWN),
    ],
)
def test_the_family_of_each_device_type_code(code: object, family: Family) -> None:
    assert family_of_code(code) is family


def test_the_code_decides_and_a_disagreement_trusts_neither() -> None:
    assert identify("inverter", "54") is Family.EG4_OFF_GRID, "a local inverter: its register names it"
    assert identify("18KPV", None) is Family.EG4_HYBRID, "no code: the name"
    assert identify("18KPV", "2092") is Family.EG4_HYBRID
    assert identify("18KPV", "54") is Family.UNKNOWN, "the name and the code disagree"
    assert identify("Grid Boss", "9999") is Family.UNKNOWN


def test_a_model_is_named_from_its_identity_registers() -> None:
    assert model_name(2092, 6) == "18KPV"
    assert model_name(10284, 8) == "FlexBOSS21"
    assert model_name(54, 6) == "12000XP"
    assert model_name(44, 3) == "LXP-LB", "the family's name when the rating is not listed"
    assert model_name(7, 1) is None
    # Register 0's bits 5-7 and register 1's bit 8 give the rating; register 19 the code.
    assert registers.identity({0: 6 << 5, 1: 0, 19: 2092}) == (2092, 6)
    assert registers.identity({0: 0x8200, 1: 0x0109, 19: 10284}) == (10284, 8)  # a FlexBOSS21's HOLD_MODEL


def offered(family: Family, exposed: frozenset[str] = frozenset()) -> set[str]:
    return {setting.key for setting in SETTINGS if offered_in_family(setting, family, exposed)}


def test_the_off_grid_family_is_offered_no_grid_setting() -> None:
    off_grid = offered(Family.EG4_OFF_GRID)
    for key in (
        "grid_export_enabled",
        "grid_export_power_limit",
        "grid_peak_shaving",
        "grid_peak_shaving_power",
        "forced_discharge_enabled",
        "forced_discharge_power",
        "battery_backup",
        "ac_charge_soc_limit",
        "grid_off_grid",
    ):
        assert key not in off_grid, key
    assert {"battery_charge_current", "battery_discharge_current", "forced_charge_enabled"} <= off_grid
    assert "ac_charge_power" not in off_grid, "contested there: register 66 reads 100 on an SNA12K"
    assert "ac_charge_power" in offered(Family.EG4_OFF_GRID, frozenset({"ac_charge_power"}))


def test_luxpower_is_not_offered_what_its_sources_read_as_percent_unless_exposed() -> None:
    luxpower = offered(Family.LUXPOWER)
    for key in (
        "ac_charge_power",
        "forced_charge_power",
        "forced_discharge_power",
        "grid_export_power_limit",
    ):
        assert key not in luxpower, key
        assert key in offered(Family.LUXPOWER, frozenset({key}))
    assert "grid_export_enabled" not in luxpower, "register 21 or 22: the sources disagree"
    assert {"battery_charge_current", "ac_charge_enabled", "grid_peak_shaving"} <= luxpower


def test_the_hybrid_family_is_offered_every_setting_but_the_off_grid_ones() -> None:
    """All but the AC end SOC (register 67 ends AC charging there) and the AC first windows (the EG4
    portal shows them on the off-grid models alone): contested, offered when exposed."""
    held_back = {"ac_charge_end_soc", "ac_first_window_1", "ac_first_window_2", "ac_first_window_3"}
    assert offered(Family.EG4_HYBRID) == {setting.key for setting in SETTINGS} - held_back
    assert "ac_first_window_1" in offered(Family.EG4_HYBRID, frozenset({"ac_first_window_1"}))
    assert "ac_charge_end_soc" not in offered(Family.EG4_HYBRID, frozenset({"ac_charge_end_soc"}))


def test_an_unidentified_model_gets_only_what_every_family_agrees_on() -> None:
    unknown = offered(Family.UNKNOWN)
    inverters = (family for family in Family if family not in (Family.UNKNOWN, Family.GRIDBOSS))
    agreed = set.intersection(*(offered(family) for family in inverters))
    assert unknown == agreed
    assert "battery_charge_current" in unknown
    assert "grid_export_power_limit" not in unknown
    assert "ac_charge_power" not in offered(Family.UNKNOWN, frozenset({"ac_charge_power"})), (
        "exposing a disputed setting opens it only where a family is known"
    )


def test_every_row_names_its_sources_and_every_absence_or_dispute_says_why() -> None:
    for setting in SETTINGS:
        provenance = setting.provenance
        assert provenance.agree, setting.key
        for family, why in (*provenance.absent, *provenance.contested):
            assert family is not Family.UNKNOWN, setting.key
            assert len(why) > 20, setting.key
            assert provenance.offer(family)[1] == why


def test_the_export_power_is_kilowatts_in_tenths_of_register_103() -> None:
    limit = setting_by_topic_path("grid/export_power_limit")
    assert isinstance(limit, NumberSetting)
    assert (limit.hold_param, limit.unit, limit.minimum, limit.maximum, limit.step) == (
        "HOLD_FEED_IN_GRID_POWER_PERCENT",
        "kW",
        Decimal(0),
        Decimal("25.5"),
        Decimal("0.1"),
    )
    assert limit.parse(b"12.1") == "12.1"
    with pytest.raises(CommandRefused, match=r"between 0 and 25\.5"):
        limit.parse(b"50")
    assert registers.encode_holding({"HOLD_FEED_IN_GRID_POWER_PERCENT": "12.1"}, {103: 0}) == {103: 121}
    assert limit.from_fields({"HOLD_FEED_IN_GRID_POWER_PERCENT": "12.1"}) == "12.1"
    assert setting_by_topic_path("grid/export_power_percent") is None
    message = retired_setting_message("grid/export_power_percent")
    assert message is not None
    assert "grid/export_power_limit" in message
    assert "kilowatts" in message


def test_the_register_table_is_the_rows_and_no_other_module_states_a_register_encoding() -> None:
    """One truth per setting: the dongle's table is gathered from the rows; no module but the catalogue
    builds an encoding (the simulator's dongle and the transports read the gathered table)."""
    assert dict(registers.HOLDING) == {name: encoding for s in SETTINGS for name, encoding in s.local}
    builders = {"Scaled", "Flag", "ClockPart"}
    for path in BRIDGE.rglob("*.py"):
        if path.name in ("catalogue.py", "encodings.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                assert name not in builders, f"{path.relative_to(BRIDGE)} builds a {name} encoding"


def test_settings_without_agreed_register_encodings_are_cloud_only() -> None:
    for key in ("ac_charge_type", "forced_charge_soc_limit", "grid_off_grid"):
        setting = setting_by_key(key)
        assert setting is not None, key
        assert setting.local == (), key


def test_peak_shaving_power_is_tenths_of_a_kw_in_register_206() -> None:
    """Once cloud only; pylxpweb verified the encoding by a register write (raw 41 shown as 4.1 kW)."""
    setting = setting_by_key("grid_peak_shaving_power")
    assert isinstance(setting, NumberSetting)
    assert setting.local == (("_12K_HOLD_GRID_PEAK_SHAVING_POWER", Scaled(206, 10)),)
    assert registers.encode_holding({"_12K_HOLD_GRID_PEAK_SHAVING_POWER": "4.1"}, {206: 0}) == {206: 41}


# -- the policy: refusals that name the model, and the rules between settings --------------------------


def situation(
    model: str, family: Family, held: dict[str, str] | None = None, exposed: frozenset[str] = frozenset()
) -> Situation:
    return Situation(
        ready=True,
        stopping=False,
        known_inverter=True,
        held=held or {},
        offered=frozenset(s.key for s in SETTINGS if offered_in_family(s, family, exposed)),
        exposed=exposed | frozenset(s.key for s in SETTINGS if s.risk is Risk.PROTECTION),
        model=model,
        family=family,
    )


def command(path: str, payload: str) -> Command:
    return Command(f"eg4/{SERIAL}/{path}/set", SERIAL, path, payload.encode(), retained=False)


def test_a_setting_the_family_lacks_is_refused_naming_the_model_and_why() -> None:
    with pytest.raises(CommandRefused) as refused:
        decide(command("grid/export_enabled", "ON"), situation("12000XP", Family.EG4_OFF_GRID), GUARD_OFF)
    assert str(refused.value) == (
        "Grid Sell-back is not offered on 12000XP (EG4 off-grid (12000XP, 6000XP, SNA)): the off-grid models "
        "have no grid sell-back, export or peak shaving (eg4_web_monitor hides it there)"
    )


def test_a_disputed_setting_is_refused_unless_exposed_and_then_written() -> None:
    lux = situation("LXP-LB-8K", Family.LUXPOWER)
    with pytest.raises(CommandRefused, match=r"^AC Charge Power is not offered on LXP-LB-8K \(Luxpower"):
        decide(command("ac_charge/power", "5"), lux, GUARD_OFF)
    with pytest.raises(CommandRefused, match=r"only when control\.expose names ac_charge_power$"):
        decide(command("ac_charge/power", "5"), lux, GUARD_OFF)
    exposed = situation("LXP-LB-8K", Family.LUXPOWER, exposed=frozenset({"ac_charge_power"}))
    assert decide(command("ac_charge/power", "5"), exposed, GUARD_OFF).value == "5.0"


def test_peak_shaving_power_is_refused_unless_peak_shaving_is_known_on() -> None:
    path = "grid/peak_shaving_power"
    for held in ({"grid_peak_shaving": "OFF"}, {}):
        with pytest.raises(CommandRefused, match="refused by the firmware while Grid Peak Shaving is off"):
            decide(command(path, "5"), situation("18KPV", Family.EG4_HYBRID, held), GUARD_OFF)
    on = situation("18KPV", Family.EG4_HYBRID, {"grid_peak_shaving": "ON"})
    assert decide(command(path, "5"), on, GUARD_OFF).value == "5.0"


def test_the_off_grid_cut_off_may_not_pass_the_on_grid_one() -> None:
    held = situation(
        "18KPV",
        Family.EG4_HYBRID,
        {"battery_discharge_cutoff_soc": "20", "battery_off_grid_cutoff_soc": "15"},
    )
    with pytest.raises(CommandRefused, match=r"not be above the On-grid Discharge Cut-off SOC .*\(20 %\)"):
        decide(command("battery/off_grid_cutoff_soc", "21"), held, GUARD_OFF)
    assert decide(command("battery/off_grid_cutoff_soc", "20"), held, GUARD_OFF).value == "20"
    with pytest.raises(CommandRefused, match=r"not be below the Off-grid Discharge Cut-off SOC .*\(15 %\)"):
        decide(command("battery/discharge_cutoff_soc", "14"), held, GUARD_OFF)
    assert decide(command("battery/discharge_cutoff_soc", "15"), held, GUARD_OFF).value == "15"


def test_a_refusal_says_when_the_inverter_holds_more_than_the_limit() -> None:
    held = Situation(
        ready=True,
        stopping=False,
        known_inverter=True,
        held={"battery_charge_current": "250"},
        limits=InverterSettings(max_charge_current=100),
    )
    with pytest.raises(CommandRefused) as refused:
        decide(command("battery/charge_current", "120"), held, GUARD_OFF)
    assert str(refused.value).endswith("; the inverter holds 250 A now, above that limit")


# -- what Home Assistant is told ------------------------------------------------------------------------


def test_a_number_is_announced_with_bounds_that_hold_what_the_inverter_holds() -> None:
    charge = setting_by_key("battery_charge_current")
    assert isinstance(charge, NumberSetting)
    limited = InverterSettings(max_charge_current=100)
    assert number_bounds(charge, limited, None) == (Decimal(0), Decimal(100))
    assert number_bounds(charge, limited, "80") == (Decimal(0), Decimal(100))
    assert number_bounds(charge, limited, "250") == (Decimal(0), Decimal(250))
    assert number_bounds(charge, InverterSettings(), "300") == (Decimal(0), Decimal(300))
    volts = setting_by_key("battery_system_charge_volt_limit")
    assert isinstance(volts, NumberSetting)
    assert number_bounds(volts, InverterSettings(), "40") == (Decimal(40), Decimal("59.5"))


class Recorder:
    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None:
        self.published.append((topic, payload))


class Today:
    def __init__(self) -> None:
        self.day = date(2026, 12, 1)

    def __call__(self) -> date:
        return self.day


def test_an_energy_counter_never_goes_backwards_except_a_daily_one_on_a_new_day() -> None:
    topics, recorder, today = Topics(), Recorder(), Today()
    settings = Settings.model_validate({"cloud": CLOUD})
    announcer = Announcer(topics, settings, Fleet(settings), today)
    announcer.attach(recorder)
    announcer.announce()  # the first announcement is out: states are published from now on
    total = topics.state(SERIAL, "energy/pv_total")
    daily = topics.state(SERIAL, "energy/pv_today")

    def read(pv_total: int, pv_today: int) -> None:
        announcer.energy(
            SERIAL,
            Energy.model_validate(
                {"serialNum": SERIAL, "totalYielding": pv_total, "todayYielding": pv_today}
            ),
        )

    def said(topic: str) -> list[str]:
        return [payload for where, payload in recorder.published if where == topic]

    read(1000, 50)
    read(990, 40)  # the cloud's dip: both lower
    read(990, 40)
    assert (said(total), said(daily)) == (["100.0"], ["5.0"])
    assert announcer.energy_held_back == 4
    read(1001, 51)
    assert (said(total), said(daily)) == (["100.0", "100.1"], ["5.0", "5.1"])
    today.day = date(2026, 12, 2)
    read(1002, 1)  # midnight: the daily counter starts again; the lifetime one never does
    read(999, 2)
    assert (said(total), said(daily)) == (["100.0", "100.1", "100.2"], ["5.0", "5.1", "0.1", "0.2"])
    assert {sensor.key for sensor in ENERGY_SENSORS if sensor.key.endswith("_today")} >= {"energy_pv_today"}


def test_a_held_value_beyond_the_limit_turns_the_problem_sensor_on() -> None:
    topics, recorder = Topics(), Recorder()
    settings = Settings.model_validate({"cloud": CLOUD, "inverters": {SERIAL: {"max_charge_current": 100}}})
    fleet = Fleet(settings)
    fleet.add(Device(SERIAL, "18KPV", family=Family.EG4_HYBRID))
    announcer = Announcer(topics, settings, fleet)
    announcer.attach(recorder)
    announcer.announce()

    def held(charge_current: str) -> None:
        fleet.held(SERIAL)["battery_charge_current"] = charge_current
        fleet.check_limits(SERIAL)
        announcer.beyond_limits(SERIAL)

    held("250")
    assert recorder.published[-2:] == [
        (
            topics.beyond_limit_attributes(SERIAL),
            '{"settings":{"battery_charge_current":{"held":"250","limit":"100","unit":"A"}}}',
        ),
        (topics.beyond_limit(SERIAL), "ON"),
    ]
    held("90")
    assert recorder.published[-2:] == [
        (topics.beyond_limit_attributes(SERIAL), '{"settings":{}}'),
        (topics.beyond_limit(SERIAL), "OFF"),
    ]


def test_offer_says_absent_for_an_unknown_family_when_any_family_differs() -> None:
    setting = setting_by_key("grid_export_enabled")
    assert setting is not None
    assert setting.provenance.offer(Family.UNKNOWN)[0] is Offer.ABSENT
    assert setting.provenance.offer(Family.EG4_HYBRID) == (Offer.OFFERED, "")
    assert setting.provenance.offer(Family.LUXPOWER)[0] is Offer.CONTESTED


def test_before_its_first_settings_read_an_inverter_is_announced_only_what_its_family_gets() -> None:
    settings = Settings.model_validate(
        {"cloud": {"username": "someone", "password": "secret"}, "control": {"expose": ["off_grid_window_1"]}}
    )
    fleet = Fleet(settings)
    fleet.add(Device("4512345600", "LXP-LB-8K", "fAAB-2122", Family.LUXPOWER))
    fleet.add(Device("4512345601", "12000XP", "fAAB-2122", Family.EG4_OFF_GRID))
    fleet.add(Device("4512345602", "18KPV", "fAAB-2122", Family.EG4_HYBRID))
    keys = {serial: {s.key for s in fleet.settings_of(serial)} for serial in fleet}
    assert "off_grid_window_1" not in keys["4512345600"], "no Luxpower source names registers 269-274"
    assert "peak_shaving_window_1" in keys["4512345600"]
    assert "peak_shaving_window_1" not in keys["4512345601"]
    assert "off_grid_window_1" in keys["4512345602"], "exposed, on the family that has it"
    assert "off_grid_window_2" not in keys["4512345602"], "a protection not exposed"
