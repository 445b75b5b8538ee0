"""What each setting and sensor is: the single table read by validation, MQTT topics, discovery and the
transports. Plain data, no I/O.

A setting is one of three kinds, each with its own payload rule and way to the inverter:

- a number (`HOLD_*`, written with `remoteSet/write` as text in the cloud's units, rounded to its step);
- a switch (`FUNC_*`, written with `remoteSet/functionControl`);
- a time window (four `HOLD_*` hour and minute parameters, written one after another).

Every value travels inside the bridge as its canonical text (`80`, `7.5`, `ON`, `01:00-05:00`), which is
also what the state topic says; `json_value` is how a result message shows it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final

from bridge.core.encodings import ClockPart, Encoding, Flag, Scaled
from bridge.core.errors import CommandRefused, ValueUnreadable
from bridge.core.families import Family

#: The three register windows that together cover every holding register (0-366).
PARAMETER_WINDOWS: Final = ((0, 127), (127, 127), (240, 127))

#: A value in the vendor's terms, as the cloud gives it and the register tables decode it: `HOLD_*` text,
#: `FUNC_*` booleans, a few integers.
FieldValue = str | bool | int | float
#: How a result message shows a value: a number, a switch's state, a window's text.
JsonValue = int | float | bool | str

MAX_PAYLOAD_BYTES: Final = 64
#: ASCII digits only: `\d` and Decimal would also take other scripts' digits, such as "߀" (N'Ko zero).
NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NOT_FINITE: Final = frozenset({"nan", "inf", "infinity"})
SWITCH_WORDS: Final = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}
WINDOW: Final = re.compile(r"([0-9]{1,2}):([0-9]{2})-([0-9]{1,2}):([0-9]{2})")


class Risk(StrEnum):
    """Everyday settings are on by default; the others only when `control.expose` names them."""

    EVERYDAY = "everyday"
    #: Can take a home off the grid or off its backup, or changes a protection (voltages, off-grid SOC).
    PROTECTION = "protection"


class Source(StrEnum):
    """The public implementations a row's facts come from (docs/SETTINGS.md says where in each)."""

    PYLXPWEB = "pylxpweb"
    EG4_WEB_MONITOR = "eg4_web_monitor"
    LXP_BRIDGE = "lxp-bridge"
    LUXPOWER_HA = "luxpower-ha-integration"
    LUXPYTHON = "LuxPython"
    #: The cloud's own parameter lists and answers (WManage), as captured.
    CLOUD = "WManage"


class Offer(StrEnum):
    """Whether a family gets a setting."""

    OFFERED = "offered"
    #: The sources dispute what it means on this family: offered only when `control.expose` names it.
    CONTESTED = "contested"
    #: The family does not have it (or the firmware refuses it there).
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who says what about a setting, and what follows for each model family."""

    #: The sources that agree on the row as written (register, encoding, unit, range).
    agree: tuple[Source, ...]
    #: Families that do not have it, each with the reason.
    absent: tuple[tuple[Family, str], ...] = ()
    #: Families for which the sources disagree on its meaning, each with who says what.
    contested: tuple[tuple[Family, str], ...] = ()
    #: Other disagreements, and choices made between sources (a range narrowed to what they share).
    note: str = ""

    def offer(self, family: Family) -> tuple[Offer, str]:
        """Whether `family` gets the setting, and why not. An unidentified model gets only what every
        family has and no source disputes."""
        if family is Family.UNKNOWN:
            doubts = [f"{known.label}: {why}" for known, why in (*self.absent, *self.contested)]
            if doubts:
                return Offer.ABSENT, "the model is not identified, and not every family has it the same way"
            return Offer.OFFERED, ""
        for known, why in self.absent:
            if known is family:
                return Offer.ABSENT, why
        for known, why in self.contested:
            if known is family:
                return Offer.CONTESTED, why
        return Offer.OFFERED, ""


def payload_text(payload: bytes, unit_hint: str) -> str:
    """The payload as stripped text, or `CommandRefused` saying why not."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandRefused(f"payload too long ({len(payload)} bytes; at most {MAX_PAYLOAD_BYTES})")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise CommandRefused("payload is not UTF-8 text") from exc
    if not text:
        raise CommandRefused(f"empty payload: send {unit_hint}")
    return text


@dataclass(frozen=True, slots=True)
class NumberSetting:
    """A `HOLD_*` number in the cloud's units, written as text, rounded to its step."""

    key: str
    name: str
    topic_path: str
    hold_param: str
    register: int
    minimum: Decimal
    maximum: Decimal
    step: Decimal
    unit: str
    device_class: str | None
    icon: str
    risk: Risk = Risk.EVERYDAY
    #: The older per-inverter config key that may lower `maximum` (`max_charge_current`), if any.
    limit_setting: str | None = None
    #: The register encoding of each cloud name (empty: the cloud only).
    local: tuple[tuple[str, Encoding], ...] = ()
    provenance: Provenance = Provenance(())

    @property
    def component(self) -> str:
        return "number"

    @property
    def field_names(self) -> tuple[str, ...]:
        return (self.hold_param,)

    @property
    def registers(self) -> tuple[int, ...]:
        return (self.register,)

    @property
    def whole(self) -> bool:
        return self.step == 1

    def parse(self, payload: bytes, maximum: Decimal | None = None) -> str:
        """The canonical text a `/set` payload asks for, or `CommandRefused` saying why not."""
        return self.canonical(self.validate(read_number(payload, self), maximum=maximum))

    def validate(self, value: float | Decimal, *, maximum: Decimal | int | None = None) -> Decimal:
        """The value to write, or `CommandRefused` naming the setting and range.

        The documented rule: round to the nearest step, refuse when that is further than 0.01 of a step
        from the input, refuse outside the range. Decimal arithmetic keeps `80.01` exactly 0.01 away from 80.
        """
        upper = self.maximum if maximum is None else min(self.maximum, Decimal(maximum))
        exact = _as_decimal(value, self)
        if exact.adjusted() > 6:  # far out of any range; also keeps quantize() away from huge exponents
            raise CommandRefused(
                f"{self.name} must be between {self.minimum} and {upper} {self.unit}, got {value}"
            )
        nearest = (exact / self.step).to_integral_value() * self.step
        if abs(exact - nearest) > self.step / 100:
            grain = (
                f"a whole number of {self.unit}" if self.whole else f"a multiple of {self.step} {self.unit}"
            )
            raise CommandRefused(
                f"{self.name} must be {grain} between {self.minimum} and {upper}, got {value}"
            )
        if not self.minimum <= nearest <= upper:
            configured = " (the limit set in the bridge's config)" if upper < self.maximum else ""
            raise CommandRefused(
                f"{self.name} must be between {self.minimum} and {upper} {self.unit}{configured}, got {value}"
            )
        return nearest.quantize(self.step)

    def canonical(self, value: Decimal) -> str:
        # Every range starts at 0 or above: the absolute value only turns "-0" into "0".
        return format(value.copy_abs().quantize(self.step), "f")

    def parse_field_value(self, raw: object) -> Decimal:
        """The held text (`"200"`, `"7.5"`) as the value it stands for. A value outside the range, or off
        its step, is still what the inverter holds, and is kept as it is: the owner must see it."""
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueUnreadable(f"{self.hold_param} as read is not a number: {raw!r}")
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation as exc:
            raise ValueUnreadable(f"{self.hold_param} as read is not a number: {raw!r}") from exc
        if not value.is_finite() or value.adjusted() > 6 or value < 0:
            raise ValueUnreadable(f"{self.hold_param} as read is not a value it can hold: {raw!r}")
        return value

    def from_fields(self, values: Mapping[str, FieldValue]) -> str:
        """The canonical text of what the inverter holds; `KeyError` or `ValueUnreadable` if unknown."""
        return self.held_text(self.parse_field_value(values[self.hold_param]))

    def held_text(self, value: Decimal) -> str:
        """A held value as text: on its step as every written value is, otherwise with its own digits."""
        if value == value.quantize(self.step):
            return self.canonical(value)
        return format(value.normalize(), "f")

    def in_range(self, canonical: str) -> bool:
        """Whether a held value lies within the setting's own range (not the owner's limit)."""
        return self.minimum <= Decimal(canonical) <= self.maximum

    def to_fields(self, canonical: str) -> dict[str, FieldValue]:
        """The cloud's parameters and values that hold `canonical` (the inverse of `from_fields`)."""
        return {self.hold_param: canonical}

    def json_value(self, canonical: str) -> JsonValue:
        number = Decimal(canonical)
        return int(number) if number == number.to_integral_value() else float(number)

    def state(self, canonical: str) -> str:
        return canonical

    def unit_hint(self) -> str:
        return f"a number of {self.unit}, such as {self.example()}"

    def example(self) -> str:
        return self.canonical(min(self.maximum, Decimal(80)) if self.whole else self.maximum / 2)


@dataclass(frozen=True, slots=True)
class SwitchSetting:
    """A `FUNC_*` flag, written with `functionControl`; its state is `ON` or `OFF`."""

    key: str
    name: str
    topic_path: str
    func_param: str
    register: int
    icon: str
    risk: Risk = Risk.EVERYDAY
    local: tuple[tuple[str, Encoding], ...] = ()
    provenance: Provenance = Provenance(())

    @property
    def component(self) -> str:
        return "switch"

    @property
    def field_names(self) -> tuple[str, ...]:
        return (self.func_param,)

    @property
    def registers(self) -> tuple[int, ...]:
        return (self.register,)

    def parse(self, payload: bytes, maximum: Decimal | None = None) -> str:
        text = payload_text(payload, self.unit_hint())
        on = SWITCH_WORDS.get(text.lower())
        if on is None:
            raise CommandRefused(f"{self.name} takes ON or OFF (or true/false, 1/0), got {text[:32]!r}")
        return "ON" if on else "OFF"

    def from_fields(self, values: Mapping[str, FieldValue]) -> str:
        raw = values[self.func_param]
        if not isinstance(raw, bool):
            raise ValueUnreadable(f"{self.func_param} as read is not true or false: {raw!r}")
        return "ON" if raw else "OFF"

    def to_fields(self, canonical: str) -> dict[str, FieldValue]:
        return {self.func_param: canonical == "ON"}

    def json_value(self, canonical: str) -> JsonValue:
        return canonical == "ON"

    def state(self, canonical: str) -> str:
        return canonical

    def unit_hint(self) -> str:
        return "ON or OFF"


@dataclass(frozen=True, slots=True)
class WindowSetting:
    """A daily time window: four `HOLD_*` parameters (start hour and minute, end hour and minute), written
    one after another; its state is `HH:MM-HH:MM`."""

    key: str
    name: str
    topic_path: str
    #: `HOLD_AC_CHARGE` with `suffix` "" (the first window), "_1" or "_2".
    prefix: str
    suffix: str
    start_register: int
    icon: str
    risk: Risk = Risk.EVERYDAY
    local: tuple[tuple[str, Encoding], ...] = ()
    provenance: Provenance = Provenance(())

    @property
    def component(self) -> str:
        return "text"

    @property
    def field_names(self) -> tuple[str, str, str, str]:
        """Start hour, start minute, end hour, end minute: the order they are written in."""
        return tuple(  # type: ignore[return-value]
            f"{self.prefix}_{edge}_{part}{self.suffix}"
            for edge in ("START", "END")
            for part in ("HOUR", "MINUTE")
        )

    @property
    def registers(self) -> tuple[int, ...]:
        return (self.start_register, self.start_register + 1)

    def parse(self, payload: bytes, maximum: Decimal | None = None) -> str:
        text = payload_text(payload, self.unit_hint())
        match = WINDOW.fullmatch(text)
        if match is None:
            raise CommandRefused(
                f"{self.name} takes a window as HH:MM-HH:MM, such as 01:00-05:00, got {text[:32]!r}"
            )
        return self._window(*(int(part) for part in match.groups()))

    def _window(self, start_hour: int, start_minute: int, end_hour: int, end_minute: int) -> str:
        if not (
            0 <= start_hour <= 23
            and 0 <= end_hour <= 23
            and 0 <= start_minute <= 59
            and 0 <= end_minute <= 59
        ):
            raise CommandRefused(f"{self.name}: hours run from 00 to 23 and minutes from 00 to 59")
        return f"{start_hour:02d}:{start_minute:02d}-{end_hour:02d}:{end_minute:02d}"

    def parts(self, canonical: str) -> tuple[int, int, int, int]:
        match = WINDOW.fullmatch(canonical)
        assert match is not None
        start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
        return start_hour, start_minute, end_hour, end_minute

    def from_fields(self, values: Mapping[str, FieldValue]) -> str:
        numbers = []
        for name in self.field_names:
            raw = values[name]
            if isinstance(raw, bool) or not str(raw).strip().isdigit():
                raise ValueUnreadable(f"{name} as read is not an hour or minute: {raw!r}")
            numbers.append(int(str(raw)))
        try:
            return self._window(*numbers)
        except CommandRefused as exc:  # a held window out of range: unreadable, not a refused command
            raise ValueUnreadable(str(exc)) from exc

    def to_fields(self, canonical: str) -> dict[str, FieldValue]:
        return {
            name: f"{number:02d}"
            for name, number in zip(self.field_names, self.parts(canonical), strict=True)
        }

    def json_value(self, canonical: str) -> JsonValue:
        return canonical

    def state(self, canonical: str) -> str:
        return canonical

    def unit_hint(self) -> str:
        return "a window as HH:MM-HH:MM, such as 01:00-05:00"


@dataclass(frozen=True, slots=True)
class SelectSetting:
    """A multi-valued `BIT_*` field, written with `bitParamControl`; its state is the option's name, the
    option's position in `options` is the value the inverter holds."""

    key: str
    name: str
    topic_path: str
    bit_param: str
    register: int
    options: tuple[str, ...]
    icon: str
    risk: Risk = Risk.EVERYDAY
    local: tuple[tuple[str, Encoding], ...] = ()
    provenance: Provenance = Provenance(())

    @property
    def component(self) -> str:
        return "select"

    @property
    def field_names(self) -> tuple[str, ...]:
        return (self.bit_param,)

    @property
    def registers(self) -> tuple[int, ...]:
        return (self.register,)

    def parse(self, payload: bytes, maximum: Decimal | None = None) -> str:
        text = payload_text(payload, self.unit_hint())
        chosen = next((option for option in self.options if option == text.lower()), None)
        if chosen is None:
            raise CommandRefused(f"{self.name} takes {self.unit_hint()}, got {text[:32]!r}")
        return chosen

    def value_of(self, canonical: str) -> int:
        """What the inverter holds for an option."""
        return self.options.index(canonical)

    def from_fields(self, values: Mapping[str, FieldValue]) -> str:
        raw = values[self.bit_param]
        if isinstance(raw, bool) or not str(raw).strip().isdigit() or int(str(raw)) >= len(self.options):
            raise ValueUnreadable(f"{self.bit_param} as read is not one of its options: {raw!r}")
        return self.options[int(str(raw))]

    def to_fields(self, canonical: str) -> dict[str, FieldValue]:
        return {self.bit_param: self.value_of(canonical)}

    def json_value(self, canonical: str) -> JsonValue:
        return canonical

    def state(self, canonical: str) -> str:
        return canonical

    def unit_hint(self) -> str:
        return "one of " + ", ".join(self.options)


Setting = NumberSetting | SwitchSetting | WindowSetting | SelectSetting


def read_number(payload: bytes, setting: NumberSetting) -> Decimal:
    """The number in a payload (`80`, `80.0`, a JSON number), or `CommandRefused` saying why not."""
    text = payload_text(payload, setting.unit_hint())
    if NUMBER.fullmatch(text):
        return Decimal(text)
    if text.lower().lstrip("+-") in NOT_FINITE:
        raise CommandRefused(f"{setting.name} must be a finite number, got {text}")
    raise CommandRefused(f"{setting.name} must be a number such as {setting.example()}, got {text[:32]!r}")


def _as_decimal(value: float | Decimal, setting: NumberSetting) -> Decimal:
    if isinstance(value, bool):
        raise CommandRefused(f"{setting.name} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise CommandRefused(f"{setting.name} must be a finite number, got {value}")
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not exact.is_finite():
        raise CommandRefused(f"{setting.name} must be a finite number, got {value}")
    return exact


# pragma: no mutate start
# Runs at import, building the tables below: mutmut cannot reach it there; the unit tests pin every
# row it builds instead.
def _number(
    topic_path: str,
    name: str,
    hold_param: str,
    register: int,
    bounds: tuple[str, str, str],
    unit: str,
    device_class: str | None,
    icon: str,
    risk: Risk = Risk.EVERYDAY,
    limit_setting: str | None = None,
    *,
    factor: int | None = None,
    provenance: Provenance,
) -> NumberSetting:
    """A number; `factor` is its register encoding (the register holds the value times it), `None` when
    the sources do not agree on one (the cloud only)."""
    low, high, step = (Decimal(bound) for bound in bounds)
    local = () if factor is None else ((hold_param, Scaled(register, factor)),)
    return NumberSetting(
        topic_path.replace("/", "_"), name, topic_path, hold_param, register, low, high, step, unit, device_class, icon, risk,
        limit_setting, local, provenance,
    )  # fmt: skip


def _switch(
    key: str, name: str, topic_path: str, func_param: str, bit: tuple[int, int] | None, icon: str,
    risk: Risk = Risk.EVERYDAY, *, register: int | None = None, provenance: Provenance,
) -> SwitchSetting:  # fmt: skip
    """A flag; `bit` is (register, bit) where the sources agree on it, `None` for the cloud only."""
    local = () if bit is None else ((func_param, Flag(*bit)),)
    where = bit[0] if bit is not None else register
    assert where is not None
    return SwitchSetting(key, name, topic_path, func_param, where, icon, risk, local, provenance)


def _windows(
    group: str,
    label: str,
    prefix: str,
    first_register: int,
    icon: str,
    *,
    local: bool,
    provenance: Provenance,
) -> tuple[WindowSetting, ...]:
    """The three windows of one schedule: unsuffixed, `_1`, `_2` in the cloud; window_1..3 on MQTT. Each
    boundary register holds the hour in its low byte and the minute in its high byte."""
    windows = []
    for number, suffix in ((1, ""), (2, "_1"), (3, "_2")):
        start = first_register + 2 * (number - 1)
        parts: list[tuple[str, Encoding]] = []
        for offset, edge in enumerate(("START", "END")):
            parts += [
                (f"{prefix}_{edge}_HOUR{suffix}", ClockPart(start + offset, high_byte=False, highest=23)),
                (f"{prefix}_{edge}_MINUTE{suffix}", ClockPart(start + offset, high_byte=True, highest=59)),
            ]
        windows.append(
            WindowSetting(
                key=f"{group}_window_{number}",
                name=f"{label} Window {number}",
                topic_path=f"{group}/window_{number}",
                prefix=prefix,
                suffix=suffix,
                start_register=start,
                icon=icon,
                local=tuple(parts) if local else (),
                provenance=provenance,
            )
        )
    return tuple(windows)


# pragma: no mutate end
P, E, X, A, G, C = Source.PYLXPWEB, Source.EG4_WEB_MONITOR, Source.LXP_BRIDGE, Source.LUXPOWER_HA, Source.LUXPYTHON, Source.CLOUD  # fmt: skip
HYBRID, OFF_GRID, LUX = Family.EG4_HYBRID, Family.EG4_OFF_GRID, Family.LUXPOWER

#: Why a grid-tied setting is not offered on the off-grid family.
NO_GRID_ON_OFF_GRID: Final = "the off-grid models have no grid sell-back, export or peak shaving (eg4_web_monitor hides it there)"  # fmt: skip
REFUSED_ON_OFF_GRID: Final = "the cloud refuses it on the off-grid models (REMOTE_SET_ERROR on a 12000XP), and eg4_web_monitor hides it there"  # fmt: skip
LUX_PERCENT: Final = "lxp-bridge, luxpower-ha-integration and LuxPython read this register as percent (0-100) on Luxpower models, where the EG4 sources read kW x10"  # fmt: skip

BATTERY_CHARGE_CURRENT: Final = _number(
    "battery/charge_current", "Battery Charge Current", "HOLD_LEAD_ACID_CHARGE_RATE", 101, ("0", "250", "1"), "A",
    "current", "mdi:battery-plus", limit_setting="max_charge_current", factor=1,
    provenance=Provenance((P, E, X, A, G), note="Amperes in the register, whole numbers. Maxima differ: pylxpweb's register table says 140 but its cloud setter takes 0-250; eg4_web_monitor 250 (an older table of its docs 140); luxpower-ha-integration 140 in a comment and 500 in its entity; LuxPython 255. 250 is what the cloud accepts and what a FlexBOSS21 holds. `max_charge_current` lowers it per inverter."),
)  # fmt: skip
BATTERY_DISCHARGE_CURRENT: Final = _number(
    "battery/discharge_current", "Battery Discharge Current", "HOLD_LEAD_ACID_DISCHARGE_RATE", 102, ("0", "250", "1"),
    "A", "current", "mdi:battery-minus", limit_setting="max_discharge_current", factor=1,
    provenance=Provenance((P, E, X, A, G), note="As the charge current: amperes, maxima 140 to 500 between sources, 250 taken."),
)  # fmt: skip
GRID_EXPORT_POWER_LIMIT: Final = _number(
    "grid/export_power_limit", "Grid Export Power Limit", "HOLD_FEED_IN_GRID_POWER_PERCENT", 103, ("0", "25.5", "0.1"),
    "kW", "power", "mdi:transmission-tower-export", factor=10,
    provenance=Provenance(
        (P, E), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
        contested=((LUX, "luxpower-ha-integration (0-100) and LuxPython (0-255) read register 103 as percent; eg4_web_monitor saw 12.1 kW on an LXP through the cloud"),),
        note="Kilowatts despite the cloud's name `..._PERCENT`: eg4_web_monitor read raw 160 through the dongle where the cloud said 16 (kW) on the same 18kPV, and offers 0-25.5 kW in steps of 0.1; pylxpweb deprecated its percent setter because 50 set a 50 kW cap. Published as `grid/export_power_percent` (0-100 %) before 0.3.",
    ),
)  # fmt: skip

#: Every setting the bridge can read and write, in the order the README's table lists them. A setting is
#: offered for an inverter only when its model's parameters include every name the setting reads, and its
#: family has it (`Provenance.offer`).
SETTINGS: Final[tuple[Setting, ...]] = (
    BATTERY_CHARGE_CURRENT,
    BATTERY_DISCHARGE_CURRENT,
    _number("battery/discharge_cutoff_soc", "On-grid Discharge Cut-off SOC", "HOLD_DISCHG_CUT_OFF_SOC_EOD", 105,
            ("10", "90", "1"), "%", "battery", "mdi:battery-arrow-down", factor=1,
            provenance=Provenance((P, E, X, A, G), note="10-90 is pylxpweb's cloud setter and eg4_web_monitor's docs; lxp-bridge's and eg4_web_monitor's entities allow 0-100.")),
    _number("battery/system_charge_soc_limit", "System Charge SOC Limit", "HOLD_SYSTEM_CHARGE_SOC_LIMIT", 227,
            ("10", "101", "1"), "%", "battery", "mdi:battery-charging-100", factor=1,
            provenance=Provenance((P, E, A, G), note="101 lets the battery top-balance (eg4_web_monitor; pylxpweb: never stop). pylxpweb allows 0-101, the others 10-101. lxp-bridge does not list register 227.")),
    _switch("battery_charge_last", "Charge Battery Last", "battery/charge_last", "FUNC_CHARGE_LAST", (110, 4),
            "mdi:battery-clock", provenance=Provenance((E, A, G), note="One fork of the Luxpower integration puts it at bit 6; the others agree on bit 4.")),
    _switch("battery_backup", "Battery Backup", "battery/backup", "FUNC_BATTERY_BACKUP_CTRL", (233, 1),
            "mdi:battery-lock", provenance=Provenance((P, E), absent=((OFF_GRID, REFUSED_ON_OFF_GRID),))),
    _switch("ac_charge_enabled", "AC Charge", "ac_charge/enabled", "FUNC_AC_CHARGE", (21, 7),
            "mdi:transmission-tower-import", provenance=Provenance((P, E, X, A, G), absent=((OFF_GRID, "eg4_web_monitor found the flag stored but never used on the off-grid firmware, and hides it there"),))),
    _number("ac_charge/power", "AC Charge Power", "HOLD_AC_CHARGE_POWER_CMD", 66, ("0", "15", "0.1"), "kW", "power",
            "mdi:transmission-tower-import", factor=10,
            provenance=Provenance((P, E), contested=((OFF_GRID, "register 66 reads 100 on an SNA12K, which cannot be 0-15 kW; eg4_web_monitor writes it only through the cloud there"), (LUX, LUX_PERCENT)))),
    _number("ac_charge/soc_limit", "AC Charge SOC Limit", "HOLD_AC_CHARGE_SOC_LIMIT", 67, ("0", "101", "1"), "%",
            "battery", "mdi:battery-charging-high", factor=1,
            provenance=Provenance((P, E, X, A, G), absent=((OFF_GRID, REFUSED_ON_OFF_GRID),))),
    *_windows("ac_charge", "AC Charge", "HOLD_AC_CHARGE", 68, "mdi:clock-outline", local=True,
              provenance=Provenance((E, X, A, G), note="Each boundary register: the hour in the low byte, the minute in the high byte; written one register at a time (function 6), as lxp-bridge and eg4_web_monitor do.")),
    SelectSetting("ac_charge_type", "AC Charge Type", "ac_charge/type", "BIT_AC_CHARGE_TYPE", 120,
                  ("time", "soc_volt", "time_and_soc_volt"), "mdi:format-list-bulleted",
                  provenance=Provenance((C, E), absent=((OFF_GRID, "AC charge is not used by the off-grid firmware (eg4_web_monitor)"),),
                                        note="Register 120 bits 1-3 (luxpower-ha-integration) hold more than these three values; the bridge writes it through the cloud's bitParamControl only.")),
    _switch("forced_charge_enabled", "PV Charge Priority (Charge First)", "forced_charge/enabled", "FUNC_FORCED_CHG_EN",
            (21, 11), "mdi:battery-charging", provenance=Provenance((P, E, X, A, G), note="The cloud calls it forced charge; every source calls it PV charge priority or charge first.")),
    _number("forced_charge/power", "PV Charge Priority Power", "HOLD_FORCED_CHG_POWER_CMD", 74, ("0", "15", "1"), "kW",
            "power", "mdi:battery-charging", factor=10,
            provenance=Provenance((P, E), contested=((LUX, LUX_PERCENT),), note="Whole kilowatts 0-15 (pylxpweb and eg4_web_monitor refuse fractions); published with steps of 0.1 up to 25.5 before 0.3.")),
    _number("forced_charge/soc_limit", "PV Charge Priority SOC Limit", "HOLD_FORCED_CHG_SOC_LIMIT", 75, ("0", "100", "1"),
            "%", "battery", "mdi:battery-charging-high",
            provenance=Provenance((C, X, G), absent=((OFF_GRID, REFUSED_ON_OFF_GRID),), note="Through the cloud only: luxpower-ha-integration reads register 75 as packed bytes, the others as one percentage.")),
    *_windows("forced_charge", "PV Charge Priority", "HOLD_FORCED_CHARGE", 76, "mdi:clock-outline", local=False,
              provenance=Provenance((C, E, X, A, G), absent=((OFF_GRID, REFUSED_ON_OFF_GRID),))),
    _switch("forced_discharge_enabled", "Forced Discharge", "forced_discharge/enabled", "FUNC_FORCED_DISCHG_EN",
            (21, 10), "mdi:battery-arrow-down", provenance=Provenance((P, E, X, A, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),))),
    _number("forced_discharge/power", "Forced Discharge Power", "HOLD_FORCED_DISCHG_POWER_CMD", 82,
            ("0", "25.5", "0.1"), "kW", "power", "mdi:battery-arrow-down", factor=10,
            provenance=Provenance((P, E), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),), contested=((LUX, LUX_PERCENT),))),
    _number("forced_discharge/soc_limit", "Forced Discharge SOC Limit", "HOLD_FORCED_DISCHG_SOC_LIMIT", 83,
            ("0", "100", "1"), "%", "battery", "mdi:battery-low",
            provenance=Provenance((C, E, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),), note="Through the cloud only: luxpower-ha-integration reads register 83 as packed bytes.")),
    *_windows("forced_discharge", "Forced Discharge", "HOLD_FORCED_DISCHARGE", 84, "mdi:clock-outline", local=False,
              provenance=Provenance((C, E, X, A, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),))),
    _switch("grid_export_enabled", "Grid Sell-back", "grid/export_enabled", "FUNC_FEED_IN_GRID_EN", (21, 15),
            "mdi:transmission-tower-export",
            provenance=Provenance((P, E, X, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                  contested=((LUX, "luxpower-ha-integration puts the Luxpower sell-back flag at register 22 bit 15 (from Luxpower's 2024 register document); lxp-bridge and LuxPython at register 21 bit 15"),))),
    GRID_EXPORT_POWER_LIMIT,
    _switch("grid_peak_shaving", "Grid Peak Shaving", "grid/peak_shaving", "FUNC_GRID_PEAK_SHAVING", (179, 7),
            "mdi:chart-bell-curve", provenance=Provenance((P, E, A), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),))),
    _number("grid/peak_shaving_power", "Grid Peak Shaving Power", "_12K_HOLD_GRID_PEAK_SHAVING_POWER", 206,
            ("0", "25.5", "0.1"), "kW", "power", "mdi:chart-bell-curve",
            provenance=Provenance((C, E, G), absent=((OFF_GRID, NO_GRID_ON_OFF_GRID),),
                                  note="Through the cloud only: eg4_web_monitor calls the register's kW x10 encoding unverified and writes it through the cloud; luxpower-ha-integration's comment says watts. The firmware refuses it while peak shaving is off (eg4_web_monitor), and the bridge does too.")),
    # Protection: only when `control.expose` names them.
    _number("battery/off_grid_cutoff_soc", "Off-grid Discharge Cut-off SOC", "HOLD_SOC_LOW_LIMIT_EPS_DISCHG", 125,
            ("0", "100", "1"), "%", "battery", "mdi:battery-alert", Risk.PROTECTION, factor=1,
            provenance=Provenance((P, E, X, A, G), note="luxpower-ha-integration gives its range as 0 to the on-grid cut-off (register 105): the bridge refuses a value above the on-grid cut-off held.")),
    _number("battery/system_charge_volt_limit", "System Charge Voltage Limit", "HOLD_SYSTEM_CHARGE_VOLT_LIMIT", 228,
            ("48", "59.5", "0.1"), "V", "voltage", "mdi:flash-triangle", Risk.PROTECTION, factor=10,
            provenance=Provenance((P, E, A), note="Ranges differ: eg4_web_monitor 40-64 V, luxpower-ha-integration 40-59.5 V, pylxpweb 48-60 V; the bridge writes only 48-59.5 V, where all agree. Tenths of a volt in the register (pylxpweb, eg4_web_monitor, luxpower-ha-integration).")),
    _switch("battery_charge_by_voltage", "Charge Control by Voltage", "battery/charge_by_voltage",
            "FUNC_BAT_CHARGE_CONTROL", (179, 9), "mdi:flash", Risk.PROTECTION, provenance=Provenance((P, E, A))),
    _switch("battery_discharge_by_voltage", "Discharge Control by Voltage", "battery/discharge_by_voltage",
            "FUNC_BAT_DISCHARGE_CONTROL", (179, 10), "mdi:flash", Risk.PROTECTION, provenance=Provenance((P, E, A))),
    _switch("eps_enabled", "Backup Output (EPS)", "eps/enabled", "FUNC_EPS_EN", (21, 0), "mdi:power-plug-battery",
            Risk.PROTECTION, provenance=Provenance((P, E, X, A, G))),
    # The operating mode: the flag holds true for normal operation, false for standby (the inverter off).
    _switch("inverter_normal_mode", "Normal Operation (off: standby)", "inverter/normal_mode", "FUNC_SET_TO_STANDBY",
            (21, 9), "mdi:power", Risk.PROTECTION, provenance=Provenance((P, E, X, A, G))),
    _switch("grid_off_grid", "Go Off-grid", "grid/off_grid", "FUNC_GO_TO_OFFGRID", None, "mdi:transmission-tower-off",
            Risk.PROTECTION, register=110,
            provenance=Provenance((C,), absent=((OFF_GRID, "the off-grid models are off the grid already"),),
                                  contested=((LUX, "no public Luxpower source names this flag"),),
                                  note="Only the cloud's parameter list names it; pylxpweb maps it to no bit (register 110 bit 7 is the buzzer there); through the cloud only.")),
)  # fmt: skip

#: The settings of the first release, whose per-entity discovery topics are migrated (`migrate_discovery`).
WRITABLE_PARAMETERS: Final = (BATTERY_CHARGE_CURRENT, BATTERY_DISCHARGE_CURRENT)


def setting_by_topic_path(topic_path: str) -> Setting | None:
    """The setting published under `topic_path` (`ac_charge/window_1`), if any."""
    return _BY_TOPIC_PATH.get(topic_path)


def setting_by_key(key: str) -> Setting | None:
    return _BY_KEY.get(key)


@dataclass(frozen=True, slots=True)
class Retired:
    """A setting's old topic and entity, retired: its retained state is emptied and its Home Assistant
    entity removed, and a `/set` to it is refused naming what replaced it."""

    key: str
    topic_path: str
    platform: str
    replaced_by: str
    why: str
    #: What to send to the replacement instead, as the refusal says it.
    instead: str


#: Settings retired, newest last.
RETIRED: Final = (
    Retired("grid_export_power_percent", "grid/export_power_percent", "number", "grid/export_power_limit",
            "the inverter holds kilowatts there, not percent: 20 meant 20 kW", "kilowatts"),
)  # fmt: skip


def retired_setting_message(topic_path: str) -> str | None:
    """Why a retired setting's `/set` is refused, and what to use instead; `None` if not retired."""
    for retired in RETIRED:
        if retired.topic_path == topic_path:
            return (
                f"{topic_path} was retired in 0.3 ({retired.why}); nothing was written: send "
                f"{retired.instead} to {retired.replaced_by}/set"
            )
    return None


def offered_in_family(setting: Setting, family: Family, exposed: frozenset[str]) -> bool:
    """Whether `family` gets `setting`: it has it and the sources agree on it there, or the owner exposed
    it where they dispute it."""
    offer, _why = setting.provenance.offer(family)
    return offer is Offer.OFFERED or (offer is Offer.CONTESTED and setting.key in exposed)


_BY_TOPIC_PATH: Final = {setting.topic_path: setting for setting in SETTINGS}
_BY_KEY: Final = {setting.key: setting for setting in SETTINGS}


@dataclass(frozen=True, slots=True)
class Sensor:
    """A runtime value published read-only; `field` names the attribute of `bridge.core.readings.Runtime`
    (or of `Energy`, for the energy counters)."""

    key: str
    name: str
    field: str
    topic_path: str
    unit: str | None
    device_class: str | None
    state_class: str = "measurement"
    icon: str | None = None
    #: Digits after the point in the published state: one number format per unit (amperes, like the
    #: settings, are whole numbers; volts, hertz and kWh have tenths or hundredths).
    decimals: int = 0
    #: Shown among the device's diagnostics in Home Assistant rather than its main values.
    diagnostic: bool = False


# pragma: no mutate start
# Runs at import, building the tables below: mutmut cannot reach it there; the unit tests pin every
# row it builds instead.
def _energy(key: str, name: str, field: str) -> Sensor:
    return Sensor(key, name, field, f"energy/{key.removeprefix('energy_')}", "kWh", "energy", "total_increasing",
                  decimals=1)  # fmt: skip


# pragma: no mutate end
SENSORS: Final = (
    Sensor("soc", "SOC", "soc", "battery/soc", "%", "battery"),
    Sensor("battery_voltage", "Battery Voltage", "battery_voltage", "battery/voltage", "V", "voltage", decimals=1),
    Sensor("battery_power", "Battery Power", "battery_power", "battery/power", "W", "power"),
    Sensor("battery_temperature", "Battery Temperature", "battery_temperature", "battery/temperature", "°C",
           "temperature"),
    Sensor("bms_charge_current_limit", "BMS Charge Current Limit", "bms_charge_current_limit",
           "battery/bms_charge_current_limit", "A", "current"),
    Sensor("bms_discharge_current_limit", "BMS Discharge Current Limit", "bms_discharge_current_limit",
           "battery/bms_discharge_current_limit", "A", "current"),
    Sensor("pv_power", "PV Power", "pv_power", "pv/power", "W", "power"),
    Sensor("pv1_power", "PV1 Power", "pv1_power", "pv/1/power", "W", "power"),
    Sensor("pv2_power", "PV2 Power", "pv2_power", "pv/2/power", "W", "power"),
    Sensor("pv3_power", "PV3 Power", "pv3_power", "pv/3/power", "W", "power"),
    Sensor("pv1_voltage", "PV1 Voltage", "pv1_voltage", "pv/1/voltage", "V", "voltage", decimals=1),
    Sensor("pv2_voltage", "PV2 Voltage", "pv2_voltage", "pv/2/voltage", "V", "voltage", decimals=1),
    Sensor("pv3_voltage", "PV3 Voltage", "pv3_voltage", "pv/3/voltage", "V", "voltage", decimals=1),
    Sensor("grid_import_power", "Grid Import Power", "grid_import_power", "grid/import_power", "W", "power"),
    Sensor("grid_export_power", "Grid Export Power", "grid_export_power", "grid/export_power", "W", "power"),
    Sensor("grid_voltage", "Grid Voltage", "grid_voltage", "grid/voltage", "V", "voltage", decimals=1),
    Sensor("grid_frequency", "Grid Frequency", "grid_frequency", "grid/frequency", "Hz", "frequency", decimals=2),
    Sensor("load_power", "Load Power", "load_power", "load/power", "W", "power"),
    Sensor("eps_power", "EPS Power", "eps_power", "eps/power", "W", "power"),
    Sensor("inverter_temperature", "Inverter Temperature", "inverter_temperature", "inverter/temperature", "°C",
           "temperature", diagnostic=True),
    Sensor("radiator1_temperature", "Radiator 1 Temperature", "radiator1_temperature", "inverter/radiator1_temperature",
           "°C", "temperature", diagnostic=True),
    Sensor("radiator2_temperature", "Radiator 2 Temperature", "radiator2_temperature", "inverter/radiator2_temperature",
           "°C", "temperature", diagnostic=True),
)  # fmt: skip

#: Energy counters, from the energy answer the bridge reads with the settings.
ENERGY_SENSORS: Final = (
    _energy("energy_pv_today", "PV Energy Today", "pv_today"),
    _energy("energy_pv_total", "PV Energy Total", "pv_total"),
    _energy("energy_charge_today", "Battery Charge Energy Today", "charge_today"),
    _energy("energy_charge_total", "Battery Charge Energy Total", "charge_total"),
    _energy("energy_discharge_today", "Battery Discharge Energy Today", "discharge_today"),
    _energy("energy_discharge_total", "Battery Discharge Energy Total", "discharge_total"),
    _energy("energy_import_today", "Grid Import Energy Today", "import_today"),
    _energy("energy_import_total", "Grid Import Energy Total", "import_total"),
    _energy("energy_export_today", "Grid Export Energy Today", "export_today"),
    _energy("energy_export_total", "Grid Export Energy Total", "export_total"),
    _energy("energy_load_today", "Load Energy Today", "load_today"),
    _energy("energy_load_total", "Load Energy Total", "load_total"),
)
#: The sensors of the first release, whose per-entity discovery topics are migrated.
FIRST_RELEASE_SENSORS: Final = ("soc", "battery_voltage", "battery_power", "battery_temperature",
                                "bms_charge_current_limit", "bms_discharge_current_limit", "pv_power",
                                "grid_import_power", "grid_export_power")  # fmt: skip
