"""The poller: finds the account's inverters, then keeps their runtime values and settings fresh, and tells
the announcer what changed. It also keeps each inverter's availability: offline on the first request that
cannot reach the cloud, online again on the first that does.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Final

import structlog

from bridge.core.catalogue import SETTINGS, Risk, Setting, offered_in_family
from bridge.core.config import Settings
from bridge.core.devices import Device
from bridge.core.errors import (
    AuthenticationError,
    CloudError,
    NoLocalWayError,
    TransientError,
    UnknownInverterError,
)
from bridge.core.families import family_of_model, identify, model_name
from bridge.core.readings import Energy, InverterInfo, Runtime
from bridge.core.writes import Clock
from bridge.mqtt.announcer import Announcer
from bridge.transports.router import (
    DEVICE_TYPE_CODE,
    POWER_RATING,
    UNIDENTIFIED_MODEL,
    Source,
    sensors_given_locally,
)

log = structlog.get_logger(__name__)

LOCAL_SENSORS: Final = sensors_given_locally()

STARTUP_RETRY_SECONDS: Final = (5.0, 15.0, 60.0)
#: A serial must be usable as one topic level and look like the cloud's: ten letters and digits.
SERIAL: Final = re.compile(r"[A-Za-z0-9]{10}")
#: While the cloud cannot be reached, runtime is read again this often (at most), so that availability
#: comes back soon after the cloud does instead of a whole polling period later.
UNREACHABLE_RETRY_SECONDS: Final = 10.0


class Poller:
    def __init__(self, cloud: Source, announcer: Announcer, settings: Settings, clock: Clock) -> None:
        self._cloud = cloud
        self._announcer = announcer
        self._settings = settings
        self._polling = settings.polling
        self._clock = clock
        self._refresh_requested = asyncio.Event()
        self._unreachable: set[str] = set()
        #: The inverters with battery settings, by serial.
        self.devices: dict[str, Device] = {}
        #: Each inverter's settings as last read (canonical text), by setting key.
        self.parameters: dict[str, dict[str, str]] = {}
        #: The keys of the settings each inverter's model has, once its settings were read.
        self.offered: dict[str, frozenset[str]] = {}
        self.runtime: dict[str, Runtime] = {}
        self.energy: dict[str, Energy] = {}
        self._exposed = settings.control.exposed
        #: Each inverter's device type code as first read: the canary of every later settings read.
        self._codes: dict[str, object] = {}
        #: Settings reads dropped because the canary changed, for metrics.
        self.readings_dropped = 0
        #: When each setting was last read back after a write (monotonic clock), by (serial, key).
        self._read_back: dict[tuple[str, str], float] = {}
        #: Why the last request about each inverter failed, until one succeeds: for the status page.
        self.last_error: dict[str, str] = {}
        #: When each inverter was last read without error (monotonic clock), for health and metrics.
        self.last_good_refresh: dict[str, float] = {}
        #: Told each time an inverter's settings were read (the coordinator's check of held limits).
        self.settings_read: Callable[[str], None] | None = None
        #: When the runtime loop last finished a cycle, failed reads included: the watchdog's heartbeat.
        self.last_cycle = clock.now()

    # -- discovery ------------------------------------------------------------------------------------

    async def discover(self) -> None:
        """Every inverter with battery settings on the account; the cloud is asked until it answers.
        Refused credentials, and a config naming a serial the account does not have, end the bridge."""
        attempt = 0
        while True:
            try:
                found = await self._cloud.inverters()
                break
            except AuthenticationError:
                raise
            except CloudError as exc:
                delay = STARTUP_RETRY_SECONDS[min(attempt, len(STARTUP_RETRY_SECONDS) - 1)]
                attempt += 1
                log.warning("cloud_unreachable_at_start", error=exc.message, retry_in=delay)
                await self._clock.sleep(delay)
        for info in found:
            self._add(info)
        self._refuse_unknown_configured_serials({info.serial for info in found})
        self._refuse_local_without_a_dongle()

    def _refuse_local_without_a_dongle(self) -> None:
        """`local` promises that nothing goes to the cloud: an inverter it covers with no dongle named would
        be reached through the cloud all the same."""
        settings = self._settings
        stranded = sorted(
            serial
            for serial in self.devices
            if settings.transport_of(serial) == "local" and serial not in settings.local_ways
        )
        if stranded:
            raise NoLocalWayError(
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
            self.devices[info.serial] = Device(info.serial, info.model, info.firmware, family)
            self.parameters[info.serial] = {}
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

    def request_refresh(self) -> None:
        """Read every inverter's settings again soon (after a write: inverters in a parallel group share
        settings); a burst of requests shares one refresh per `write_refresh_seconds`."""
        self._refresh_requested.set()

    async def refresh_everything(self) -> None:
        """Every inverter's runtime values and settings, read together; changes published."""
        await asyncio.gather(self._refresh_runtime(), self._refresh_parameters())

    def sensors_of(self, serial: str) -> frozenset[str] | None:
        """Reached without the cloud (`local`), an inverter has only the sensors its registers give: the
        others (the load, which the cloud computes) are not announced rather than left `unknown`."""
        return LOCAL_SENSORS if self._settings.way_in(serial) == "local" else None

    def settings_of(self, serial: str) -> list[Setting]:
        """The settings announced and written for an inverter: those its model has (all, before its
        settings were first read), everyday ones and the protection ones `control.expose` names."""
        offered = self.offered.get(serial)
        return [
            setting
            for setting in SETTINGS
            if (offered is None or setting.key in offered)
            and (setting.risk is Risk.EVERYDAY or setting.key in self._exposed)
        ]

    async def _runtime_loop(self) -> None:
        while True:
            period = self._polling.runtime_seconds
            if self._unreachable:
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
            self._announcer.discovery(self)

    # -- refreshes ------------------------------------------------------------------------------------

    async def _refresh_runtime(self) -> None:
        await asyncio.gather(*(self._refresh_runtime_of(serial) for serial in self.devices))
        self.last_cycle = self._clock.now()

    async def _refresh_runtime_of(self, serial: str) -> None:
        try:
            runtime = await self._cloud.get_runtime(serial)
        except CloudError as exc:
            log.warning("runtime_read_failed", serial=serial, error=exc.message)
            self.cloud_failed(serial, exc)
            self._announcer.availability(serial, False)
            return
        self._unreachable.discard(serial)
        self.last_error.pop(serial, None)
        came_back = runtime.online and not self._announcer.online.get(serial, True)
        self.runtime[serial] = runtime
        if runtime.online:
            self.last_good_refresh[serial] = self._clock.now()
        self._announcer.availability(serial, runtime.online)
        self._announcer.runtime(serial, runtime)
        if came_back:
            self.request_refresh()  # settings may have changed while it was away

    async def _refresh_parameters(self) -> None:
        online = self._announcer.online
        await asyncio.gather(
            *(self._refresh_parameters_of(serial) for serial in self.devices if online.get(serial, True))
        )

    async def _refresh_parameters_of(self, serial: str) -> None:
        # The energy counters are read beside the settings, not after them: one round trip less.
        await asyncio.gather(self._refresh_settings_of(serial), self._refresh_energy_of(serial))

    async def _refresh_settings_of(self, serial: str) -> None:
        started = self._clock.now()
        try:
            read = await self._cloud.read_parameters(serial)
        except CloudError as exc:
            log.warning("parameter_read_failed", serial=serial, error=exc.message)
            self.cloud_failed(serial, exc)
            return
        self.cloud_answered(serial)
        if not self._canary_holds(serial, read.values):
            return
        device = self._identified(serial, read.values)
        offered = frozenset(
            setting.key
            for setting in SETTINGS
            if read.has(setting) and offered_in_family(setting, device.family, self._exposed)
        )
        if read.complete or serial not in self.offered:
            self.offered[serial] = offered
        for setting in SETTINGS:
            if setting.key not in offered:
                continue
            value = read.current(setting)
            if value is None:
                log.warning("parameter_missing_or_invalid", serial=serial, setting=setting.key)
                continue
            if self._read_back.get((serial, setting.key), float("-inf")) >= started:
                continue  # read back after a write while this read was under way: that value is newer
            self.parameters[serial][setting.key] = value
            self._announcer.parameter(serial, setting, value)
        self._announcer.limits_checked(serial, self.parameters[serial], self.settings_of(serial))
        if self.settings_read is not None:
            self.settings_read(serial)

    def _canary_holds(self, serial: str, values: Mapping[str, object]) -> bool:
        """The device type code is a canary: an inverter's never changes. A read that says otherwise is
        not this inverter's (a misrouted or corrupted answer): it is dropped, counted and logged, and
        nothing of it published."""
        code = values.get(DEVICE_TYPE_CODE)
        if code is None:
            return True
        first = self._codes.setdefault(serial, code)
        if code == first:
            return True
        self.readings_dropped += 1
        log.warning(
            "settings_read_dropped_canary_changed", serial=serial, code=str(code), expected=str(first)
        )
        return False

    def read_back(self, serial: str, key: str, value: str) -> None:
        """A write's read-back found `value`: newer than any settings read that started before it, whose
        answer must not overwrite it."""
        self._read_back[(serial, key)] = self._clock.now()
        self.parameters.setdefault(serial, {})[key] = value

    def _identified(self, serial: str, values: Mapping[str, object]) -> Device:
        """The inverter as its settings name it: its family from the device type code (register 19) and
        the model name, and, for one known from the config alone, its model from the identity registers."""
        device = self.devices[serial]
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
            self.devices[serial] = device
        return device

    async def _refresh_energy_of(self, serial: str) -> None:
        """The energy counters, read with the settings: they change slowly, and the cloud is shared."""
        try:
            energy = await self._cloud.get_energy(serial)
        except CloudError as exc:
            log.warning("energy_read_failed", serial=serial, error=exc.message)
            return
        self.energy[serial] = energy
        self._announcer.energy(serial, energy)

    # -- availability ---------------------------------------------------------------------------------

    def cloud_failed(self, serial: str, error: CloudError) -> None:
        """A request about `serial` failed: when the cloud could not be reached, its values are stale now,
        not at the next runtime poll."""
        self.last_error[serial] = error.message
        if isinstance(error, TransientError) and error.unreachable:
            self._unreachable.add(serial)
            self._announcer.availability(serial, False)

    def cloud_answered(self, serial: str) -> None:
        """A request about `serial` succeeded: available again at once, unless the cloud says it is lost."""
        if serial in self._unreachable:
            self._unreachable.discard(serial)
            runtime = self.runtime.get(serial)
            self._announcer.availability(serial, runtime is None or runtime.online)

    def battery_temperature(self, serial: str) -> float | None:
        """As last read, or `None` when unknown or offline."""
        runtime = self.runtime.get(serial)
        return runtime.battery_temperature if runtime is not None and runtime.online else None
