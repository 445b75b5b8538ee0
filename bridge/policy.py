"""The command policy: a command and what is known about its inverter in, the value to write or the reason
to refuse out. A pure function, with no I/O and no clock, so that every rule is tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from bridge.catalogue import NumberSetting, Risk, Setting, setting_by_topic_path
from bridge.commands import Command
from bridge.config import InverterLimits, ThermalGuardSettings
from bridge.errors import ParameterValueError


@dataclass(frozen=True, slots=True)
class Situation:
    """What the bridge knows when a command arrives."""

    #: The first refresh has finished: the inverters and their settings are known.
    ready: bool
    #: The bridge is stopping and takes no new command.
    stopping: bool
    #: The command's serial names an inverter with battery settings on the account.
    known_inverter: bool
    limits: InverterLimits = field(default_factory=InverterLimits)
    #: The values the inverter was last read holding (canonical text), by setting key.
    held: Mapping[str, str] = field(default_factory=dict)
    #: The battery's temperature, or `None` when unknown (offline, no BMS reading).
    battery_temperature: float | None = None
    #: The keys of the settings this inverter's model has; `None` before its settings were first read.
    offered: frozenset[str] | None = None
    #: The protection settings the config opts in to (`control.expose`), by key.
    exposed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Write:
    """What a command asks for once allowed: this value (its canonical text), to this setting."""

    setting: Setting
    value: str


def decide(command: Command, situation: Situation, guard: ThermalGuardSettings) -> Write:
    """The write a command asks for, or `ParameterValueError` with the reason to refuse it."""
    if command.retained:
        raise ParameterValueError("retained command ignored: publish /set without the retain flag")
    if situation.stopping:
        raise ParameterValueError("the bridge is shutting down; nothing was written")
    if not situation.ready:
        raise ParameterValueError("the bridge is still starting; try again shortly")
    if not situation.known_inverter:
        raise ParameterValueError(f"unknown inverter {command.serial or '(none)'}")
    setting = setting_by_topic_path(command.topic_path)
    offered = situation.offered
    if setting is None or (offered is not None and setting.key not in offered):
        named = command.topic_path or "(none)"
        raise ParameterValueError(
            f"unknown setting {named}: not one the bridge writes on {command.serial} "
            "(see the README's topic table)"
        )
    if setting.risk is Risk.PROTECTION and setting.key not in situation.exposed:
        raise ParameterValueError(
            f"{setting.name} changes a protection: the bridge writes it only when control.expose names "
            f"{setting.key}"
        )
    limits = situation.limits
    if limits.read_only:
        raise ParameterValueError(f"read-only: the bridge is configured not to write to {command.serial}")
    value = setting.parse(command.payload, limits.maximum_for(setting))
    if isinstance(setting, NumberSetting) and setting.limit_setting is not None:
        check_thermal_guard(guard, setting, Decimal(value), situation)
    return Write(setting, value)


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
        raise ParameterValueError(
            f"thermal guard: the battery temperature is unknown, so {setting.name} may not be raised "
            f"above {guard.derated_current} {setting.unit}"
        )
    if temperature > guard.max_temperature:
        raise ParameterValueError(
            f"thermal guard: the battery is at {temperature} °C, above {guard.max_temperature:g} °C, so "
            f"{setting.name} may not be raised above {guard.derated_current} {setting.unit}"
        )
