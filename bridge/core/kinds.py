"""The kinds of setting and sensor, and how a row says where its facts come from: the types the catalogue's
rows are made of. Plain data, no I/O.

A setting is one of four kinds, each with its own payload rule and way to the inverter:

- a number (`HOLD_*`, written as text in the vendor's units, rounded to its step);
- a switch (`FUNC_*`, or one bit of a flags register);
- a time window (four `HOLD_*` hour and minute parameters, written one after another);
- a select (`BIT_*`: one of a few named values).

Every value travels inside the bridge as its canonical text (`80`, `7.5`, `ON`, `01:00-05:00`), which is
also what the state topic says; `json_value` is how a result message shows it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final

from bridge.core.encodings import Encoding
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


#: Why a device lacks a setting of the other kind of device, by whether the setting is a GridBOSS's.
NOT_THIS_DEVICE: Final = {
    True: "a setting of the GridBOSS (MID box), not of an inverter",
    False: "an inverter's setting: a GridBOSS has only its smart ports' settings",
}


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
    #: A GridBOSS's setting (no inverter has it); an inverter's otherwise (no GridBOSS has it).
    gridboss: bool = False

    def offer(self, family: Family) -> tuple[Offer, str]:
        """Whether `family` gets the setting, and why not. An unidentified model gets only what every
        family has and no source disputes."""
        if (family is Family.GRIDBOSS) != self.gridboss:
            return Offer.ABSENT, NOT_THIS_DEVICE[self.gridboss]
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
    """A `FUNC_*` flag, written with `functionControl`; its state is `ON` or `OFF`.

    With `endpoints` (`quickCharge`), a one-off action the vendor starts and stops through endpoints of
    its own (`<endpoints>/start`, `/stop`) and reports in their status answer (`<endpoints>/getStatusInfo`),
    whose field `func_param` then names: not a parameter of the windows, and not `functionControl`'s.
    """

    key: str
    name: str
    topic_path: str
    func_param: str
    register: int
    icon: str
    risk: Risk = Risk.EVERYDAY
    local: tuple[tuple[str, Encoding], ...] = ()
    provenance: Provenance = Provenance(())
    endpoints: str | None = None

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


@functools.cache
def window_fields(prefix: str, suffix: str) -> tuple[str, str, str, str]:
    """A window's four parameter names: start hour, start minute, end hour, end minute
    (`HOLD_GEN_START_HOUR_1` ...). Asked for on every read of every inverter: built once per window."""
    return tuple(  # type: ignore[return-value]
        f"{prefix}_{edge}_{part}{suffix}" for edge in ("START", "END") for part in ("HOUR", "MINUTE")
    )


@dataclass(frozen=True, slots=True)
class WindowSetting:
    """A daily time window: four parameters (start hour and minute, end hour and minute; `HOLD_*`, or
    `read_names`), written one after another or a boundary at a time; its state is `HH:MM-HH:MM`."""

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
    #: Written through the cloud with `writeTime`, a boundary (hour and minute) at a time, as the cloud
    #: takes the generator, off-grid and peak-shaving schedules; otherwise four `remoteSet/write`s.
    write_time: bool = False
    #: The names the cloud reads the four parts under when they are not `prefix`'s (the peak-shaving
    #: schedule reads as `LSP_HOLD_DIS_CHG_POWER_TIME_37` ... but is written as `HOLD_PEAK_SHAVING_*`).
    read_names: tuple[str, str, str, str] | None = None

    @property
    def component(self) -> str:
        return "text"

    def time_params(self) -> tuple[str, str]:
        """`writeTime`'s names of the start and end boundaries (`HOLD_GEN_START_TIME_1`, ...)."""
        return (f"{self.prefix}_START_TIME{self.suffix}", f"{self.prefix}_END_TIME{self.suffix}")

    @property
    def field_names(self) -> tuple[str, str, str, str]:
        """Start hour, start minute, end hour, end minute, as read: the order they are written in."""
        if self.read_names is not None:
            return self.read_names
        return window_fields(self.prefix, self.suffix)

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
    #: By option, the `FUNC_*` flag that must be on for the option to work, or `None`; with the register
    #: holding the flags. A smart port's mode is written, then its flag: a mode without the flag leaves
    #: the port dead while it reads as set (eg4_web_monitor issue 629).
    enables: tuple[str | None, ...] = ()
    enables_register: int | None = None

    @property
    def component(self) -> str:
        return "select"

    @property
    def field_names(self) -> tuple[str, ...]:
        return (self.bit_param, *(flag for flag in self.enables if flag is not None))

    @property
    def registers(self) -> tuple[int, ...]:
        flags = () if self.enables_register is None else (self.enables_register,)
        return (self.register, *flags)

    def enable_flag(self, canonical: str) -> str | None:
        """The flag to turn on after writing `canonical`, if its option needs one."""
        return self.enables[self.value_of(canonical)] if self.enables else None

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
        option = self.options[int(str(raw))]
        flag = self.enable_flag(option)
        if flag is not None and values.get(flag) is not True:
            raise ValueUnreadable(
                f"{self.name} reads {option}, but {flag} is off: the port does nothing in that mode until "
                "its flag is on"
            )
        return option

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


@dataclass(frozen=True, slots=True)
class Declined:
    """A setting owners look for that the bridge does not offer, because its sources disagree or leave out
    what a safe write needs. docs/SETTINGS.md lists each; a `/set` to its topic is refused saying why."""

    name: str
    #: Where it would be: its cloud parameter or endpoint and its register.
    where: str
    why: str
    #: The topic it would have, for a `/set` an owner may guess; `None` when it is no single setting.
    topic_path: str | None = None


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
    #: `None` for text and yes/no values, which Home Assistant keeps no statistics of.
    state_class: str | None = "measurement"
    icon: str | None = None
    #: Digits after the point in the published state: one number format per unit (amperes, like the
    #: settings, are whole numbers; volts, hertz and kWh have tenths or hundredths).
    decimals: int = 0
    #: Shown among the device's diagnostics in Home Assistant rather than its main values.
    diagnostic: bool = False
    #: `sensor`, or `binary_sensor` for a yes/no value (published `ON` / `OFF`).
    platform: str = "sensor"
    #: Given by the registers alone (a dongle or an adapter), never by the cloud's answers.
    registers_only: bool = False


def offered_in_family(setting: Setting, family: Family, exposed: frozenset[str]) -> bool:
    """Whether `family` gets `setting`: it has it and the sources agree on it there, or the owner exposed
    it where they dispute it."""
    offer, _why = setting.provenance.offer(family)
    return offer is Offer.OFFERED or (offer is Offer.CONTESTED and setting.key in exposed)
