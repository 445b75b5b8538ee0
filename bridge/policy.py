"""The command policy: a command and what is known about its inverter in, the value to write or the reason
to refuse out. A pure function, with no I/O and no clock, so that every rule is tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bridge.catalogue import WRITABLE_PARAMETERS, WritableParameter, parameter_by_topic_path
from bridge.commands import Command, read_number
from bridge.config import InverterLimits, ThermalGuardSettings
from bridge.errors import ParameterValueError

WRITABLE_PATHS: Final = ", ".join(parameter.topic_path for parameter in WRITABLE_PARAMETERS)


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
    #: The values the inverter was last read holding, by parameter key.
    held: Mapping[str, int] = field(default_factory=dict)
    #: The battery's temperature, or `None` when unknown (offline, no BMS reading).
    battery_temperature: float | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """What a command asks for once it is known to be allowed: this value, to this parameter."""

    parameter: WritableParameter
    value: int


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
    parameter = parameter_by_topic_path(command.topic_path)
    if parameter is None:
        named = command.topic_path or "(none)"
        raise ParameterValueError(f"unknown parameter {named}; writable: {WRITABLE_PATHS}")
    limits = situation.limits
    if limits.read_only:
        raise ParameterValueError(f"read-only: the bridge is configured not to write to {command.serial}")
    maximum: int | None = getattr(limits, parameter.limit_setting)
    value = parameter.validate(read_number(command.payload, parameter), maximum=maximum)
    check_thermal_guard(guard, parameter, value, situation)
    return Write(parameter, value)


def check_thermal_guard(
    guard: ThermalGuardSettings, parameter: WritableParameter, value: int, situation: Situation
) -> None:
    """A hot battery (or one of unknown temperature): refuse to raise a current above the derating.
    Lowering a current, or raising it no further than the derated value or what is held, is allowed."""
    held = situation.held.get(parameter.key)
    if not guard.enabled or value <= guard.derated_current or (held is not None and value <= held):
        return
    temperature = situation.battery_temperature
    if temperature is None:
        raise ParameterValueError(
            f"thermal guard: the battery temperature is unknown, so {parameter.name} may not be raised "
            f"above {guard.derated_current} {parameter.unit}"
        )
    if temperature > guard.max_temperature:
        raise ParameterValueError(
            f"thermal guard: the battery is at {temperature} °C, above {guard.max_temperature:g} °C, so "
            f"{parameter.name} may not be raised above {guard.derated_current} {parameter.unit}"
        )
