"""The fleet state: what is known of each inverter, owned in one place. The poller and the write queue's
listener write it; the announcer, the status page, `bridge/info` and the metrics read it, the last three
through one summary per inverter (`Fleet.summary`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from bridge.core.catalogue import GRIDBOSS_SETTINGS, SETTINGS, settings_for
from bridge.core.config import Settings
from bridge.core.devices import Device
from bridge.core.kinds import NumberSetting, Risk, Setting
from bridge.core.readings import BatteryBank, Energy, Event, GridBossRuntime, Runtime

#: A setting held beyond the owner's limit or its own range: what is held, the limit, the unit.
Beyond = dict[str, str]


@dataclass(slots=True)
class InverterState:
    """Everything known of one inverter. Values of settings are canonical text, by setting key."""

    device: Device
    #: The routing mode (`cloud`, `local`, `hybrid`).
    transport: str
    #: The sensors its transport gives, by key; `None`: all of them.
    sensors: frozenset[str] | None = None
    held: dict[str, str] = field(default_factory=dict)
    #: The keys of the settings its model has, once its settings were read.
    offered: frozenset[str] | None = None
    runtime: Runtime | None = None
    energy: Energy | None = None
    #: The battery modules as last read; `None` before a read (or where the transport gives none).
    batteries: BatteryBank | None = None
    #: Whether its Last Event sensor is offered: `None` until the event log first answered (or where the
    #: transport gives none), false when the cloud refuses the account the log.
    events_offered: bool | None = None
    #: The newest event of its log as last read; `None`: it has none (or it was not read).
    last_event: Event | None = None
    #: Availability as last said (`None`: not yet said).
    online: bool | None = None
    #: The last request failed because its transport could not be reached.
    unreachable: bool = False
    #: Why the last request about it failed, until one succeeds.
    last_error: str | None = None
    #: When it was last read without error (monotonic clock).
    last_good_refresh: float | None = None
    #: The settings held beyond a limit, by key; `None` until its settings were first checked.
    beyond: dict[str, Beyond] | None = None
    #: Its device type code as first read: the canary of every later settings read.
    device_type_code: object = None
    #: When each setting was last read back after a write (monotonic clock), by key.
    read_back_at: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """A parallel group's powers (W) and energy counters (kWh), each the sum over its inverters; `None`
    where one of them gave no value. Named as `Runtime` and `Energy` name them, for the same sensors."""

    pv_power: float | None
    battery_power: float | None
    grid_import_power: float | None
    grid_export_power: float | None
    load_power: float | None
    eps_power: float | None
    energy: dict[str, float | None]

    def __getattr__(self, name: str) -> float | None:
        # The energy counters, by `Energy`'s field names (`pv_today`, ...).
        try:
            return self.energy[name]
        except KeyError:
            raise AttributeError(name) from None


#: What a group total sums, from each inverter's runtime.
GROUP_POWERS: Final = (
    "pv_power",
    "battery_power",
    "grid_import_power",
    "grid_export_power",
    "load_power",
    "eps_power",
)


@dataclass(frozen=True, slots=True)
class SettingSummary:
    """One setting of an inverter as the summary shows it."""

    key: str
    name: str
    #: As published (`ON`, `90`, `01:30-05:00`); `None` when not read yet.
    state: str | None
    unit: str
    #: The owner's limit, if any.
    limit: Decimal | None
    beyond: bool


@dataclass(frozen=True, slots=True)
class InverterSummary:
    """One inverter as the status page, `bridge/info` and the metrics show it. Nothing secret."""

    serial: str
    model: str
    firmware: str | None
    transport: str
    online: bool | None
    last_error: str | None
    last_good_refresh: float | None
    read_only: bool
    settings: tuple[SettingSummary, ...]
    runtime: Runtime | None


@dataclass(slots=True)
class GridBossState:
    """What is known of one GridBOSS (MID box) on the account."""

    serial: str
    model: str
    runtime: GridBossRuntime | None = None
    #: Availability as last said (`None`: not yet said).
    online: bool | None = None
    #: Its settings (the smart ports' modes) as last read, by key: canonical text.
    held: dict[str, str] = field(default_factory=dict)
    #: The keys of the settings offered on it: none until its settings were read.
    offered: frozenset[str] = frozenset()
    #: When each setting was last read back after a write (monotonic clock), by key.
    read_back_at: dict[str, float] = field(default_factory=dict)
    #: The sensors its transport gives, by key (its registers give fewer than the cloud); `None`: all.
    sensors: frozenset[str] | None = None


class Fleet:
    """What is known of every inverter, by serial: the one place the poller and the write queue write it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._exposed = settings.control.exposed
        self._inverters: dict[str, InverterState] = {}
        #: The account's GridBOSSes, by serial: devices of the plant with no battery settings.
        self.gridbosses: dict[str, GridBossState] = {}
        #: Settings reads dropped because the canary changed, for metrics.
        self.readings_dropped = 0

    # -- membership -------------------------------------------------------------------------------------

    def add(self, device: Device, *, sensors: frozenset[str] | None = None) -> None:
        self._inverters[device.serial] = InverterState(
            device, self._settings.mode_of(device.serial), sensors=sensors
        )

    def __contains__(self, serial: object) -> bool:
        return serial in self._inverters

    def __iter__(self) -> Iterator[str]:
        return iter(self._inverters)

    def __len__(self) -> int:
        return len(self._inverters)

    def __getitem__(self, serial: str) -> InverterState:
        return self._inverters[serial]

    def get(self, serial: str) -> InverterState | None:
        return self._inverters.get(serial)

    @property
    def devices(self) -> dict[str, Device]:
        """The inverters with battery settings, by serial."""
        return {serial: state.device for serial, state in self._inverters.items()}

    # -- what is offered --------------------------------------------------------------------------------

    def settings_of(self, serial: str) -> list[Setting]:
        """The settings announced and written for an inverter: those its model has (before its settings
        were first read, those its family gets), everyday ones and the protection ones `control.expose`
        names."""
        state = self._inverters.get(serial)
        if state is None:
            return []
        has = state.offered
        if has is None:
            has = frozenset(setting.key for setting in settings_for(state.device.family, self._exposed))
        return [
            setting
            for setting in SETTINGS
            if setting.key in has and (setting.risk is Risk.EVERYDAY or setting.key in self._exposed)
        ]

    def gridboss_settings_of(self, serial: str) -> list[Setting]:
        """The settings announced and written for a GridBOSS: those read from it that `control.expose`
        names (each changes what a smart port powers)."""
        state = self.gridbosses.get(serial)
        offered = frozenset() if state is None else state.offered
        return [
            setting
            for setting in GRIDBOSS_SETTINGS
            if setting.key in offered and (setting.risk is Risk.EVERYDAY or setting.key in self._exposed)
        ]

    def sensors_of(self, serial: str) -> frozenset[str] | None:
        state = self._inverters.get(serial)
        return None if state is None else state.sensors

    def held(self, serial: str) -> dict[str, str]:
        state = self._inverters.get(serial)
        return {} if state is None else state.held

    # -- availability -----------------------------------------------------------------------------------

    def mark_online(self, serial: str, online: bool) -> bool:
        """Record availability; whether it changed (and so must be said)."""
        state = self._inverters[serial]
        changed = state.online != online
        state.online = online
        return changed

    def offline(self) -> list[str]:
        return sorted(serial for serial, state in self._inverters.items() if state.online is False)

    def battery_temperature(self, serial: str) -> float | None:
        """As last read, or `None` when unknown or offline."""
        state = self._inverters.get(serial)
        runtime = None if state is None else state.runtime
        return runtime.battery_temperature if runtime is not None and runtime.online else None

    def last_good_refreshes(self) -> dict[str, float]:
        return {
            serial: state.last_good_refresh
            for serial, state in self._inverters.items()
            if state.last_good_refresh is not None
        }

    # -- limits -----------------------------------------------------------------------------------------

    def check_limits(self, serial: str) -> dict[str, Beyond]:
        """Which settings the inverter holds beyond the owner's limit or the setting's own range."""
        state = self._inverters[serial]
        limits = self._settings.limits_for(serial)
        beyond: dict[str, Beyond] = {}
        for setting in self.settings_of(serial):
            value = state.held.get(setting.key)
            if not isinstance(setting, NumberSetting) or value is None:
                continue
            limit = limits.maximum_for(setting)
            top = setting.maximum if limit is None else min(setting.maximum, limit)
            if not setting.minimum <= Decimal(value) <= top:
                beyond[setting.key] = {"held": value, "limit": str(top), "unit": setting.unit}
        state.beyond = beyond
        return beyond

    def beyond(self, serial: str) -> dict[str, Beyond]:
        state = self._inverters.get(serial)
        return {} if state is None or state.beyond is None else state.beyond

    # -- one summary ------------------------------------------------------------------------------------

    def summary(self, serial: str) -> InverterSummary:
        state = self._inverters[serial]
        limits = self._settings.limits_for(serial)
        beyond = self.beyond(serial)
        rows = []
        for setting in self.settings_of(serial):
            value = state.held.get(setting.key)
            rows.append(
                SettingSummary(
                    setting.key,
                    setting.name,
                    None if value is None else setting.state(value),
                    setting.unit if isinstance(setting, NumberSetting) else "",
                    limits.maximum_for(setting),
                    setting.key in beyond,
                )
            )
        device = state.device
        return InverterSummary(
            serial,
            device.model,
            device.firmware,
            state.transport,
            state.online,
            state.last_error,
            state.last_good_refresh,
            bool(limits.read_only),
            tuple(rows),
            state.runtime,
        )

    # -- parallel groups --------------------------------------------------------------------------------

    def groups(self) -> dict[str, list[str]]:
        """Each parallel group of two or more of these inverters, by group id, with its members."""
        members: dict[str, list[str]] = {}
        for serial, state in self._inverters.items():
            if state.device.parallel_group is not None:
                members.setdefault(state.device.parallel_group, []).append(serial)
        return {group: serials for group, serials in members.items() if len(serials) > 1}

    def group_totals(self, members: Iterable[str]) -> GroupTotals | None:
        """The sums over a group's members (from `groups`), or `None` while one of them is offline or
        unread: a total that leaves one out would say less than the system does."""
        states = [self._inverters[serial] for serial in members]
        runtimes = [state.runtime for state in states]
        if not states or any(runtime is None or not runtime.online for runtime in runtimes):
            return None
        powers = {name: _sum(getattr(runtime, name) for runtime in runtimes) for name in GROUP_POWERS}
        energies = [state.energy for state in states]
        fields = Energy.model_fields
        energy = {
            name: None if None in energies else _sum(getattr(counters, name) for counters in energies)
            for name in fields
            if name != "serial"
        }
        return GroupTotals(energy=energy, **powers)

    def summaries(self) -> list[InverterSummary]:
        return [self.summary(serial) for serial in self._inverters]


def _sum(values: Iterable[float | int | None]) -> float | None:
    """The sum, or `None` when any value is missing."""
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return round(total, 3)
