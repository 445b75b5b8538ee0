"""The command policy: a command and what is known about its inverter in, the value to write or the reason
to refuse out. A pure function, with no I/O and no clock, so that every rule is tested directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from bridge.core.catalogue import (
    GRIDBOSS_SETTINGS,
    declined_setting_message,
    retired_setting_message,
    setting_by_topic_path,
)
from bridge.core.commands import Command
from bridge.core.config import InverterSettings, ThermalGuardSettings
from bridge.core.errors import CommandRefused
from bridge.core.families import Family
from bridge.core.kinds import NumberSetting, Offer, Risk, Setting


@dataclass(frozen=True, slots=True)
class Situation:
    """What the bridge knows when a command arrives."""

    #: The first refresh has finished: the inverters and their settings are known.
    ready: bool
    #: The bridge is stopping and takes no new command.
    stopping: bool
    #: The command's serial names an inverter with battery settings on the account.
    known_inverter: bool
    limits: InverterSettings = field(default_factory=InverterSettings)
    #: The values the inverter was last read holding (canonical text), by setting key.
    held: Mapping[str, str] = field(default_factory=dict)
    #: The battery's temperature, or `None` when unknown (offline, no BMS reading).
    battery_temperature: float | None = None
    #: The keys of the settings this inverter's model has; `None` before its settings were first read.
    offered: frozenset[str] | None = None
    #: The protection and disputed settings the config opts in to (`control.expose`), by key.
    exposed: frozenset[str] = frozenset()
    #: The inverter's model as it names itself (`18KPV`), and its family.
    model: str = ""
    family: Family = Family.UNKNOWN


@dataclass(frozen=True, slots=True)
class Write:
    """What a command asks for once allowed: this value (its canonical text), to this setting."""

    setting: Setting
    value: str


def decide(command: Command, situation: Situation, guard: ThermalGuardSettings) -> Write:
    """The write a command asks for, or `CommandRefused` with the reason to refuse it."""
    if command.retained:
        raise CommandRefused("retained command ignored: publish /set without the retain flag")
    if situation.stopping:
        raise CommandRefused("the bridge is shutting down; nothing was written")
    if not situation.ready:
        raise CommandRefused("the bridge is still starting; try again shortly")
    if not situation.known_inverter:
        raise CommandRefused(f"unknown inverter {command.serial or '(none)'}")
    setting = setting_by_topic_path(command.topic_path)
    if setting is None:
        known_elsewhere = retired_setting_message(command.topic_path) or declined_setting_message(
            command.topic_path
        )
        named = command.topic_path or "(none)"
        raise CommandRefused(
            known_elsewhere
            or f"unknown setting {named}: not one the bridge writes on {command.serial} "
            "(see the README's topic table)"
        )
    check_offered(setting, situation, command.serial)
    if setting.risk is Risk.PROTECTION and setting.key not in situation.exposed:
        raise CommandRefused(
            f"{setting.name} changes a protection: the bridge writes it only when control.expose names "
            f"{setting.key}"
        )
    limits = situation.limits
    if limits.read_only:
        raise CommandRefused(f"read-only: the bridge is configured not to write to {command.serial}")
    try:
        value = setting.parse(command.payload, limits.maximum_for(setting))
    except CommandRefused as refused:
        raise CommandRefused(f"{refused}{_held_beyond(setting, situation)}") from refused
    if isinstance(setting, NumberSetting) and setting.limit_setting is not None:
        check_thermal_guard(guard, setting, Decimal(value), situation)
    check_rules(setting, value, situation.held)
    return Write(setting, value)


def _held_beyond(setting: Setting, situation: Situation) -> str:
    """A refusal's postscript when the inverter holds the setting beyond the owner's limit: the owner must
    know that the inverter is over it now."""
    held = situation.held.get(setting.key)
    maximum = situation.limits.maximum_for(setting)
    if not isinstance(setting, NumberSetting) or held is None:
        return ""
    top = setting.maximum if maximum is None else min(setting.maximum, maximum)
    if Decimal(held) <= top:
        return ""
    return f"; the inverter holds {held} {setting.unit} now, above that limit"


def check_offered(setting: Setting, situation: Situation, serial: str) -> None:
    """Refuse a setting this inverter's family lacks, or whose meaning there the sources dispute (unless
    exposed), naming the model; and one its model's parameters do not include. An inverter's setting is
    never written to a GridBOSS, nor a GridBOSS's to an inverter, whatever has been read yet."""
    for_gridboss = setting in GRIDBOSS_SETTINGS
    if for_gridboss != (situation.family is Family.GRIDBOSS):
        device = situation.model or serial
        raise CommandRefused(
            f"{setting.name} is a GridBOSS setting, and {device} is not a GridBOSS"
            if for_gridboss
            else f"{setting.name} is an inverter setting, and {device} is a GridBOSS"
        )
    if situation.offered is not None and setting.key in situation.offered:
        return
    model = situation.model or serial
    # Checked even before the settings were first read (`offered` unknown): the family alone may say no,
    # and a model not identified yet gets only what every family has.
    offer, why = setting.provenance.offer(situation.family)  # the dispute's words are in the docs
    if offer is Offer.ABSENT:
        raise CommandRefused(f"{setting.name} is not offered on {model} ({situation.family.label}): {why}")
    if offer is Offer.CONTESTED and setting.key not in situation.exposed:
        raise CommandRefused(
            f"{setting.name} is not offered on {model} ({situation.family.label}): the sources disagree "
            f"on what it means there (docs/SETTINGS.md says who says what); the bridge writes it only when "
            f"control.expose names {setting.key}"
        )
    if situation.offered is None:
        return  # not read yet: the write's read-back says whether the inverter holds it
    raise CommandRefused(
        f"{setting.name} is not offered on {model}: the parameters read from it do not include it "
        "(a setting with no agreed register is read and written through the cloud only)"
    )


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule between two settings: `setting` may not be set to a value that `allows` refuses, given what
    the inverter holds for `other`."""

    setting: str
    other: str
    #: The value asked for and the other's held value (canonical text) to `None` (allowed) or the reason.
    check: Callable[[str, str], str | None]
    source: str
    #: Judged even while the other setting is not known (its held value then reads `unknown`): for a
    #: rule the firmware enforces unless it knows the other holds what it needs.
    when_unknown: bool = False


def _peak_shaving_off(value: str, peak_shaving: str) -> str | None:
    if peak_shaving == "ON":
        return None
    return (
        "Grid Peak Shaving Power is refused by the firmware while Grid Peak Shaving is off, and zeroed "
        "when it is turned off: turn grid/peak_shaving ON first"
    )


def _off_grid_above_on_grid(value: str, on_grid: str) -> str | None:
    if Decimal(value) <= Decimal(on_grid):
        return None
    return (
        f"the Off-grid Discharge Cut-off SOC may not be above the On-grid Discharge Cut-off SOC the "
        f"inverter holds ({on_grid} %)"
    )


def _on_grid_below_off_grid(value: str, off_grid: str) -> str | None:
    if Decimal(value) >= Decimal(off_grid):
        return None
    return (
        f"the On-grid Discharge Cut-off SOC may not be below the Off-grid Discharge Cut-off SOC the "
        f"inverter holds ({off_grid} %)"
    )


#: The rules between settings, each with the public source that states it.
RULES: Final = (
    Rule("grid_peak_shaving_power", "grid_peak_shaving", _peak_shaving_off,
         "eg4_web_monitor (number.py: the firmware refuses the setpoint while peak shaving is off)",
         when_unknown=True),
    Rule("battery_off_grid_cutoff_soc", "battery_discharge_cutoff_soc", _off_grid_above_on_grid,
         "luxpower-ha-integration (hold_registers.py: register 125's range is 0 to register 105)"),
    Rule("battery_discharge_cutoff_soc", "battery_off_grid_cutoff_soc", _on_grid_below_off_grid,
         "luxpower-ha-integration (hold_registers.py: register 125's range is 0 to register 105)"),
)  # fmt: skip


def check_rules(setting: Setting, value: str, held: Mapping[str, str]) -> None:
    """Refuse a value that breaks a rule with another setting as held. A rule whose other setting is not
    known is judged only when it says so (`when_unknown`)."""
    for rule in RULES:
        if rule.setting != setting.key:
            continue
        other = held.get(rule.other)
        if other is None and not rule.when_unknown:
            continue
        reason = rule.check(value, other or "unknown")
        if reason is not None:
            raise CommandRefused(reason)


def check_thermal_guard(
    guard: ThermalGuardSettings, setting: NumberSetting, value: Decimal, situation: Situation
) -> None:
    """A hot battery (or one of unknown temperature): refuse to raise a current above the derating.
    Lowering a current, or raising it no further than the derated value or what is held, is allowed."""
    held = situation.held.get(setting.key)
    if not guard.enabled or value <= guard.derated_current or (held is not None and value <= Decimal(held)):
        return
    temperature = situation.battery_temperature
    if temperature is None:
        raise CommandRefused(
            f"thermal guard: the battery temperature is unknown, so {setting.name} may not be raised "
            f"above {guard.derated_current} {setting.unit}"
        )
    if temperature > guard.max_temperature:
        raise CommandRefused(
            f"thermal guard: the battery is at {temperature} °C, above {guard.max_temperature:g} °C, so "
            f"{setting.name} may not be raised above {guard.derated_current} {setting.unit}"
        )
