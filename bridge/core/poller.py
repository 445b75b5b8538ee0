"""The poller: finds the inverters, then keeps their runtime values and settings fresh in the fleet state,
and tells the announcer what changed. It also keeps each inverter's availability: offline on the first
request whose transport cannot be reached, online again on the first that answers.

It reads through an `InverterReader` (the router) and says what changed through `Announcements` (the
announcer): it knows no transport and no MQTT.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Final, Protocol, TypeVar

import structlog

from bridge.core.catalogue import GRIDBOSS_SETTINGS, SETTINGS, settings_for
from bridge.core.clock import Clock
from bridge.core.config import Settings
from bridge.core.devices import Device
from bridge.core.errors import (
    AuthenticationError,
    NoLocalTransportError,
    NotAllowedError,
    NoTransportError,
    TransientError,
    TransportError,
    UnknownInverterError,
    ValueUnreadable,
)
from bridge.core.families import Family, family_of_model, identify, model_name
from bridge.core.fleet import Fleet, GridBossState, InverterState
from bridge.core.kinds import Setting
from bridge.core.readings import (
    DEVICE_TYPE_CODE,
    GRIDBOSS_DEVICE_TYPE,
    POWER_RATING,
    UNIDENTIFIED_MODEL,
    BatteryBank,
    Energy,
    Event,
    GridBossRuntime,
    InverterInfo,
    ParameterRead,
    Runtime,
)

log = structlog.get_logger(__name__)

_Read = TypeVar("_Read")

STARTUP_RETRY_SECONDS: Final = (5.0, 15.0, 60.0)
#: A serial must be usable as one topic level and look like the cloud's: ten letters and digits.
SERIAL: Final = re.compile(r"[A-Za-z0-9]{10}")
#: While a transport cannot be reached, runtime is read again this often (at most), so that availability
#: comes back soon after the transport does instead of a whole polling period later.
UNREACHABLE_RETRY_SECONDS: Final = 10.0


class InverterReader(Protocol):
    """What the poller reads through (the router)."""

    async def inverters(self) -> tuple[InverterInfo, ...]: ...

    async def get_runtime(self, serial: str) -> Runtime: ...

    async def get_energy(self, serial: str) -> Energy: ...

    async def get_batteries(self, serial: str) -> BatteryBank: ...

    async def get_gridboss(self, serial: str) -> GridBossRuntime: ...

    async def read_parameters(self, serial: str) -> ParameterRead: ...

    async def get_last_event(self, serial: str) -> Event | None:
        """The newest event of the inverter's log; `None`: it has none."""

    def sensors_of(self, serial: str) -> frozenset[str] | None:
        """The sensors the inverter's transport gives, by key; `None`: all of them."""


class Announcements(Protocol):
    """What the poller says changed (the announcer publishes it)."""

    def availability(self, serial: str, online: bool) -> None: ...

    def runtime(self, serial: str, runtime: Runtime | None) -> None: ...

    def energy(self, serial: str, energy: Energy | None) -> None: ...

    def batteries(self, serial: str, bank: BatteryBank) -> None:
        """Say each module's values; announce modules that came and remove those that went."""

    def parameter(self, serial: str, setting: Setting, value: str) -> None: ...

    def last_event(self, serial: str) -> None:
        """Say the inverter's newest event, as the fleet state holds it (or take back what was said of it
        where the log is no longer offered)."""

    def beyond_limits(self, serial: str) -> None:
        """Say which settings the fleet state found held beyond a limit."""

    async def discovery_paced(self) -> None:
        """Say every inverter's config again, at the pace the broker takes it."""

    def gridboss(self, serial: str) -> None:
        """Say a GridBOSS's availability and values, as the fleet state holds them."""

    def groups(self) -> None:
        """Say each parallel group's totals, as the fleet state sums them."""


#: A parallel group's name as the cloud gives it (`A`): usable in a topic level.
GROUP_NAME: Final = re.compile(r"[A-Za-z0-9]{1,16}")


def _group_of(info: InverterInfo) -> str | None:
    """`<plant id>_<group name>`, unique across the account's plants; a name that could not be a topic
    level is left out (the inverter is then shown alone)."""
    name = info.parallel_group
    if name is None:
        return None
    if not GROUP_NAME.fullmatch(name):
        log.warning("parallel_group_name_unusable", serial=info.serial, group=name[:40])
        return None
    return f"{info.plant_id}_{name}"


class Poller:
    """Finds the inverters, reads them on their schedules and on request, and keeps the fleet state fresh."""

    def __init__(
        self,
        reader: InverterReader,
        fleet: Fleet,
        announcements: Announcements,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._reader = reader
        self._fleet = fleet
        self._announcements = announcements
        self._settings = settings
        self._polling = settings.polling
        self._clock = clock
        self._refresh_requested = asyncio.Event()
        self._exposed = settings.control.exposed
        self._offer_sets: dict[frozenset[str], frozenset[str]] = {}
        #: Told each time an inverter's settings were read (the coordinator's check of held limits).
        self.settings_read: Callable[[str], None] | None = None
        #: When the runtime loop last finished a cycle, failed reads included: the watchdog's heartbeat.
        self.last_cycle = clock.now()

    # -- discovery ------------------------------------------------------------------------------------

    async def discover(self) -> None:
        """Every inverter with battery settings: the cloud account's, or the config's when there is no
        account; asked until it answers. Refused credentials, and a config naming a serial the account does
        not have, end the bridge."""
        attempt = 0
        while True:
            try:
                found = await self._reader.inverters()
                break
            except AuthenticationError:
                raise
            except TransportError as exc:
                delay = STARTUP_RETRY_SECONDS[min(attempt, len(STARTUP_RETRY_SECONDS) - 1)]
                attempt += 1
                log.warning("inverter_list_unreachable_at_start", error=exc.message, retry_in=delay)
                await self._clock.sleep(delay)
        for info in found:
            self._add(info)
        self._refuse_unknown_configured_serials({info.serial for info in found})
        self._refuse_local_without_a_local_transport()

    def _refuse_local_without_a_local_transport(self) -> None:
        """`local` promises that nothing goes to the cloud: an inverter it covers with no dongle or adapter
        named would be reached through the cloud all the same."""
        settings = self._settings
        stranded = sorted(
            serial
            for serial in self._fleet
            if settings.configured_mode(serial) == "local" and serial not in settings.local_transports
        )
        if stranded:
            raise NoLocalTransportError(
                f"transport: local, but the cloud account's {', '.join(stranded)} has no dongle under "
                "inverters: the bridge would reach it through the cloud, which local never uses; name its "
                "dongle, or set inverters.<serial>.transport: cloud"
            )

    def _add(self, info: InverterInfo) -> None:
        if not SERIAL.fullmatch(info.serial):
            # Never a topic level: `+`, `#` or `/` in it would publish where it must not, or fail.
            log.error("device_serial_unusable_skipped", serial=info.serial[:40], model=info.model[:40])
        elif info.has_battery_parameters:
            family = family_of_model(info.model)
            device = Device(info.serial, info.model, info.firmware, family, _group_of(info))
            self._fleet.add(device, sensors=self._reader.sensors_of(info.serial))
        elif info.device_type == GRIDBOSS_DEVICE_TYPE:
            sensors = self._reader.sensors_of(info.serial)
            self._fleet.gridbosses[info.serial] = GridBossState(info.serial, info.model, sensors=sensors)
        else:
            log.info("device_without_battery_settings_skipped", serial=info.serial, model=info.model)

    def _refuse_unknown_configured_serials(self, known: set[str]) -> None:
        """Limits for a serial the account does not have would silently apply to nothing."""
        unknown = sorted(
            serial for serial in self._settings.inverters if serial != "default" and serial not in known
        )
        if unknown:
            verb, pronoun = ("is", "its") if len(unknown) == 1 else ("are", "their")
            not_here = "not on this cloud account"
            raise UnknownInverterError(
                f"inverters: {', '.join(unknown)} {verb} {not_here}, so {pronoun} limits would not apply; "
                f"the account has {', '.join(sorted(known)) or 'no devices'}"
            )

    # -- the loops ------------------------------------------------------------------------------------

    def start(self, tasks: asyncio.TaskGroup) -> None:
        tasks.create_task(self._runtime_loop(), name="runtime-refresh")
        tasks.create_task(self._parameter_loop(), name="parameter-refresh")
        tasks.create_task(self._event_loop(), name="event-refresh")

    def request_refresh(self) -> None:
        """Read every inverter's settings again soon (after a write: inverters in a parallel group share
        settings); a burst of requests shares one refresh per `write_refresh_seconds`."""
        self._refresh_requested.set()

    async def refresh_everything(self) -> None:
        """Every inverter's runtime values and settings, read together; changes published."""
        await asyncio.gather(self._refresh_runtime(), self._refresh_parameters())

    async def _runtime_loop(self) -> None:
        while True:
            period = self._polling.runtime_seconds
            if any(self._fleet[serial].unreachable for serial in self._fleet):
                period = min(period, UNREACHABLE_RETRY_SECONDS)
            await self._clock.sleep(period)
            await self._refresh_runtime()

    async def _parameter_loop(self) -> None:
        last_started = self._clock.now()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._polling.parameters_seconds):
                    await self._refresh_requested.wait()
            await self._clock.sleep(
                max(0.0, last_started + self._polling.write_refresh_seconds - self._clock.now())
            )
            self._refresh_requested.clear()
            last_started = self._clock.now()
            await self._refresh_parameters()
            await self._announcements.discovery_paced()

    async def _event_loop(self) -> None:
        """The event log: read once the bridge is ready, then every `events_seconds`. A task of its own, so
        that a slow or failing log never delays a runtime read."""
        while True:
            await self.refresh_events()
            await self._clock.sleep(self._polling.events_seconds)

    # -- refreshes ------------------------------------------------------------------------------------

    async def refresh_events(self) -> None:
        """Every inverter's newest event; discovery said again when whether an inverter's Last Event sensor
        is offered changed (its log answered for the first time, or was refused). One inverter at a time:
        the log then holds at most one of the account's request slots, and a fleet's runtime reads never
        queue behind a thousand event reads."""
        fleet = self._fleet
        before = {serial: fleet[serial].events_offered for serial in fleet}
        for serial in before:
            await self._refresh_event_of(serial)
        if any(fleet[serial].events_offered != offered for serial, offered in before.items()):
            await self._announcements.discovery_paced()

    async def _refresh_event_of(self, serial: str) -> None:
        """One inverter's newest event. A refused log takes the sensor away (asked again next time: an
        account's rights may change); any other failure keeps the event last read."""
        state = self._fleet[serial]
        try:
            event = await self._reader.get_last_event(serial)
        except NoTransportError:
            return
        except NotAllowedError as exc:
            if state.events_offered is not False:
                log.warning("event_log_refused", serial=serial, error=exc.message)
            state.events_offered, state.last_event = False, None
        except TransportError as exc:
            log.warning("event_log_read_failed", serial=serial, error=exc.message, via=exc.via)
            return
        else:
            state.events_offered, state.last_event = True, event
        self._announcements.last_event(serial)

    async def _refresh_runtime(self) -> None:
        await asyncio.gather(
            *(self._refresh_runtime_of(serial) for serial in self._fleet),
            *(self._refresh_gridboss(serial) for serial in self._fleet.gridbosses),
        )
        self._announcements.groups()
        self.last_cycle = self._clock.now()

    async def _refresh_runtime_of(self, serial: str) -> None:
        try:
            runtime = await self._reader.get_runtime(serial)
        except TransportError as exc:
            log.warning("runtime_read_failed", serial=serial, error=exc.message, via=exc.via)
            self.transport_failed(serial, exc)
            self._say_online(serial, False)
            return
        state = self._fleet[serial]
        state.unreachable = False
        state.last_error = None
        came_back = runtime.online and state.online is False
        state.runtime = runtime
        if runtime.online:
            state.last_good_refresh = self._clock.now()
        self._say_online(serial, runtime.online)
        self._announcements.runtime(serial, runtime)
        if came_back:
            self.request_refresh()  # settings may have changed while it was away

    async def _refresh_parameters(self) -> None:
        fleet = self._fleet
        await asyncio.gather(
            *(self._refresh_parameters_of(serial) for serial in fleet if fleet[serial].online is not False),
            *(
                self._refresh_gridboss_settings(serial)
                for serial, gridboss in fleet.gridbosses.items()
                if gridboss.online is not False
            ),
        )
        self._announcements.groups()  # the energy counters were read with the settings

    async def _refresh_parameters_of(self, serial: str) -> None:
        # The energy counters and the battery modules are read beside the settings, not after them.
        await asyncio.gather(
            self._refresh_settings_of(serial),
            self._refresh_energy_of(serial),
            self._refresh_batteries_of(serial),
        )

    async def _refresh_settings_of(self, serial: str) -> None:
        started = self._clock.now()
        try:
            read = await self._reader.read_parameters(serial)
        except TransportError as exc:
            log.warning("parameter_read_failed", serial=serial, error=exc.message, via=exc.via)
            self.transport_failed(serial, exc)
            return
        self.transport_answered(serial)
        if not self._canary_holds(serial, read.values):
            return
        device = self._identified(serial, read.values)
        state = self._fleet[serial]
        offered = self._offered(read, device.family)
        if read.complete or state.offered is None:
            state.offered = offered
        for setting in SETTINGS:
            if setting.key not in offered:
                continue
            value = read.current(setting)
            if value is None:
                log.warning("parameter_missing_or_invalid", serial=serial, setting=setting.key)
                continue
            if state.read_back_at.get(setting.key, float("-inf")) >= started:
                continue  # read back after a write while this read was under way: that value is newer
            state.held[setting.key] = value
            self._announcements.parameter(serial, setting, value)
        self._fleet.check_limits(serial)
        self._announcements.beyond_limits(serial)
        if self.settings_read is not None:
            self.settings_read(serial)

    def _canary_holds(self, serial: str, values: Mapping[str, object]) -> bool:
        """The device type code is a canary: an inverter's never changes. A read that says otherwise is
        not this inverter's (a misrouted or corrupted answer): it is dropped, counted and logged, and
        nothing of it published."""
        code = values.get(DEVICE_TYPE_CODE)
        if code is None:
            return True
        state = self._fleet[serial]
        if state.device_type_code is None:
            state.device_type_code = code
        if code == state.device_type_code:
            return True
        self._fleet.readings_dropped += 1
        log.warning(
            "settings_read_dropped_canary_changed",
            serial=serial,
            code=str(code),
            expected=str(state.device_type_code),
        )
        return False

    def read_back(self, serial: str, key: str, value: str) -> None:
        """A write's read-back found `value`: newer than any settings read that started before it, whose
        answer must not overwrite it."""
        state: InverterState | GridBossState = self._fleet.gridbosses.get(serial) or self._fleet[serial]
        state.read_back_at[key] = self._clock.now()
        state.held[key] = value

    def _identified(self, serial: str, values: Mapping[str, object]) -> Device:
        """The inverter as its settings name it: its family from the device type code (register 19) and
        the model name, and, for one known from the config alone, its model from the identity registers."""
        state = self._fleet[serial]
        device = state.device
        code = values.get(DEVICE_TYPE_CODE)
        model = device.model
        rating = values.get(POWER_RATING)
        if (
            model == UNIDENTIFIED_MODEL
            and isinstance(code, str)
            and code.isdigit()
            and isinstance(rating, int)
        ):
            model = model_name(int(code), rating) or UNIDENTIFIED_MODEL
        family = identify(model, code)
        if (model, family) != (device.model, device.family):
            log.info("inverter_identified", serial=serial, model=model, family=family.value)
            device = replace(device, model=model, family=family)
            state.device = device
        return device

    async def _refresh_energy_of(self, serial: str) -> None:
        """The energy counters, read with the settings: they change slowly."""
        try:
            energy = await self._reader.get_energy(serial)
        except TransportError as exc:
            log.warning("energy_read_failed", serial=serial, error=exc.message, via=exc.via)
            return
        self._fleet[serial].energy = energy
        self._announcements.energy(serial, energy)

    async def _refresh_gridboss(self, serial: str) -> None:
        """A GridBOSS's runtime, read with the inverters'; offline when it cannot be read or is lost."""
        state = self._fleet.gridbosses[serial]
        try:
            state.runtime = await self._reader.get_gridboss(serial)
        except NoTransportError:
            return
        except TransportError as exc:
            log.warning("gridboss_read_failed", serial=serial, error=exc.message, via=exc.via)
            state.online = False
        else:
            state.online = state.runtime.online
        self._announcements.gridboss(serial)

    async def _refresh_gridboss_settings(self, serial: str) -> None:
        """A GridBOSS's settings (its smart ports' modes), read with the inverters'."""
        state = self._fleet.gridbosses[serial]
        started = self._clock.now()
        read = await self._read_if_reached(
            "gridboss_settings_read_failed", serial, self._reader.read_parameters(serial)
        )
        if read is None:
            return
        if read.complete or not state.offered:
            state.offered = self._offered(read, Family.GRIDBOSS)
        for setting in GRIDBOSS_SETTINGS:
            if setting.key not in state.offered or state.read_back_at.get(setting.key, -math.inf) >= started:
                continue
            try:
                state.held[setting.key] = setting.from_fields(read.values)
            except (KeyError, ValueUnreadable) as exc:
                # A smart port in a mode whose flag is off does nothing: shown as no state, and said.
                state.held.pop(setting.key, None)
                log.warning("gridboss_setting_unreadable", serial=serial, setting=setting.key, error=str(exc))
        self._announcements.gridboss(serial)

    async def _refresh_batteries_of(self, serial: str) -> None:
        """The battery modules, read with the settings. A bank no transport reaches is left unannounced; a
        failed read keeps the modules last read."""
        bank = await self._read_if_reached("battery_read_failed", serial, self._reader.get_batteries(serial))
        if bank is None:
            return
        self._fleet[serial].batteries = bank
        self._announcements.batteries(serial, bank)

    async def _read_if_reached(self, failed: str, serial: str, read: Awaitable[_Read]) -> _Read | None:
        """`read`'s answer, or `None`: when no transport reaches it (by design: nothing to say), or when
        it failed (logged as `failed`; what was read before is kept)."""
        try:
            return await read
        except NoTransportError:
            return None
        except TransportError as exc:
            log.warning(failed, serial=serial, error=exc.message, via=exc.via)
            return None

    def _offered(self, read: ParameterRead, family: Family) -> frozenset[str]:
        """The settings a device's family gets (exposed where disputed) and its parameters include."""
        gets = settings_for(family, self._exposed)
        offered = frozenset(setting.key for setting in gets if read.has(setting))
        # A fleet's inverters of a model offer the same: each keeps one shared set, not a copy of its own.
        return self._offer_sets.setdefault(offered, offered)

    # -- availability ---------------------------------------------------------------------------------

    def _say_online(self, serial: str, online: bool) -> None:
        if self._fleet.mark_online(serial, online):
            self._announcements.availability(serial, online)

    def transport_failed(self, serial: str, error: TransportError) -> None:
        """A request about `serial` failed: when its transport could not be reached, its values are stale
        now, not at the next runtime poll."""
        state = self._fleet.get(serial)
        if state is None:
            return
        state.last_error = error.message
        if isinstance(error, TransientError) and error.unreachable:
            state.unreachable = True
            self._say_online(serial, False)

    def transport_answered(self, serial: str) -> None:
        """A request about `serial` succeeded: available again at once, unless the inverter is lost."""
        state = self._fleet.get(serial)
        if state is not None and state.unreachable:
            state.unreachable = False
            runtime = state.runtime
            self._say_online(serial, runtime is None or runtime.online)
