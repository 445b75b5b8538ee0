"""Where the cloud and MQTT meet: the cache, the refresh loops, command handling and results.

The cloud client knows nothing of MQTT and the link knows nothing of HTTP; the coordinator reads one and
publishes to the other through a `Publisher`, a single method that queues a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import structlog

from bridge.catalogue import (
    SENSORS,
    WRITABLE_PARAMETERS,
    WritableParameter,
    parameter_by_topic_path,
)
from bridge.cloud import CloudClient, InverterInfo, Runtime
from bridge.commands import Applied, Command, Outcome, read_number, result_payload
from bridge.config import Settings
from bridge.errors import (
    AuthenticationError,
    CloudError,
    MalformedResponseError,
    OutcomeUnknownError,
    ParameterValueError,
    RefusedError,
    TransientError,
    UnknownInverterError,
)
from bridge.mqtt.discovery import inverter_configs
from bridge.mqtt.link import OFFLINE, ONLINE
from bridge.mqtt.topics import Topics, topic_is_publishable

log = structlog.get_logger(__name__)

WRITABLE_PATHS: Final = ", ".join(parameter.topic_path for parameter in WRITABLE_PARAMETERS)
STARTUP_RETRY_SECONDS: Final = (5.0, 15.0, 60.0)
#: A serial must be usable as one topic level and look like the cloud's: ten letters and digits.
SERIAL: Final = re.compile(r"[A-Za-z0-9]{10}")
#: While the cloud cannot be reached, runtime is read again this often (at most), so that availability
#: comes back soon after the cloud does instead of a whole polling period later.
UNREACHABLE_RETRY_SECONDS: Final = 10.0


class Publisher(Protocol):
    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None: ...


WriteKey = tuple[str, str]


@dataclass(slots=True)
class SettingHistory:
    """What this bridge sent to one setting of one inverter, to recognise a late write that undid a newer
    command: the sequence number of the latest send of each value that may have been applied, and the
    newest confirmed command."""

    maybe_applied: dict[int, int] = field(default_factory=dict)
    confirmed: tuple[int, int, Command] | None = None  # sequence, value, command


class Coordinator:
    """Keeps every inverter's values, publishes them, and turns commands into validated writes."""

    def __init__(
        self,
        cloud: CloudClient,
        topics: Topics,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cloud = cloud
        self._topics = topics
        self._settings = settings
        self._polling = settings.polling
        self._clock = clock
        self._publisher: Publisher | None = None
        self._inverters: dict[str, InverterInfo] = {}
        self._parameters: dict[str, dict[str, int]] = {}
        self._runtime: dict[str, Runtime] = {}
        self._online: dict[str, bool] = {}
        self._published: dict[str, str] = {}
        self._discovery: dict[str, list[tuple[str, str]]] = {}
        self._busy: set[WriteKey] = set()
        self._pending: dict[WriteKey, tuple[Command, int]] = {}
        self._write_gates: dict[str, asyncio.Lock] = {}
        self._last_write: dict[str, float] = {}
        self._history: dict[WriteKey, SettingHistory] = {}
        self._sequence = itertools.count(1)
        self._unreachable: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._refresh_requested = asyncio.Event()
        self._accepting = True
        self._announced = False
        self._connections = 0
        self._tasks: asyncio.TaskGroup | None = None
        self.ready = asyncio.Event()
        #: When each inverter was last read without error (monotonic clock), for health and metrics.
        self.last_good_refresh: dict[str, float] = {}
        #: When the runtime loop last finished a cycle, failed reads included: the watchdog's heartbeat.
        self.last_cycle = clock()
        #: Commands by outcome: accepted (written), refused (by us), failed (by the cloud), superseded.
        self.command_outcomes: Counter[str] = Counter()
        #: MQTT messages handed to the link, for benchmarks.
        self.published = 0

    def attach(self, publisher: Publisher) -> None:
        self._publisher = publisher

    @property
    def inverters(self) -> dict[str, InverterInfo]:
        """The inverters with battery settings, by serial."""
        return dict(self._inverters)

    # -- the loops ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Discover, refresh everything once, then keep runtime and parameters fresh until cancelled."""
        await self._discover()  # its refusals (credentials, unknown serials) end the bridge unwrapped
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            await asyncio.gather(self._refresh_runtime(), self._refresh_parameters())
            self._announced = True
            self._publish_discovery(with_removals=True)
            self._publish_everything()
            self.ready.set()
            log.info("bridge_ready", inverters=len(self._inverters))
            tasks.create_task(self._runtime_loop(), name="runtime-refresh")
            tasks.create_task(self._parameter_loop(), name="parameter-refresh")

    async def refresh_all(self) -> None:
        """One full refresh, as the loops do it: every inverter's runtime values and parameters, read
        together, changed states published, then discovery."""
        await asyncio.gather(self._refresh_runtime(), self._refresh_parameters())
        self._publish_discovery()

    async def _discover(self) -> None:
        attempt = 0
        while True:
            try:
                devices = await self._cloud.inverters()
                break
            except AuthenticationError:
                raise
            except CloudError as exc:
                delay = STARTUP_RETRY_SECONDS[min(attempt, len(STARTUP_RETRY_SECONDS) - 1)]
                attempt += 1
                log.warning("cloud_unreachable_at_start", error=exc.message, retry_in=delay)
                await asyncio.sleep(delay)
        for device in devices:
            if not SERIAL.fullmatch(device.serial):
                # Never a topic level: `+`, `#` or `/` in it would publish where it must not, or fail.
                log.error(
                    "device_serial_unusable_skipped", serial=device.serial[:40], model=device.model[:40]
                )
            elif device.has_battery_parameters:
                self._inverters[device.serial] = device
                self._parameters[device.serial] = {}
            else:
                log.info("device_without_battery_settings_skipped", serial=device.serial, model=device.model)
        self._refuse_unknown_configured_serials({device.serial for device in devices})

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

    async def _runtime_loop(self) -> None:
        while True:
            period = self._polling.runtime_seconds
            if self._unreachable:
                period = min(period, UNREACHABLE_RETRY_SECONDS)
            await asyncio.sleep(period)
            await self._refresh_runtime()

    async def _parameter_loop(self) -> None:
        last_started = self._clock()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._polling.parameters_seconds):
                    await self._refresh_requested.wait()
            # A burst of writes shares one refresh per `write_refresh_seconds`.
            await asyncio.sleep(max(0.0, last_started + self._polling.write_refresh_seconds - self._clock()))
            self._refresh_requested.clear()
            last_started = self._clock()
            await self._refresh_parameters()
            self._publish_discovery()

    # -- refreshes ----------------------------------------------------------------------------------

    async def _refresh_runtime(self) -> None:
        await asyncio.gather(*(self._refresh_runtime_of(serial) for serial in self._inverters))
        self.last_cycle = self._clock()

    async def _refresh_runtime_of(self, serial: str) -> None:
        try:
            runtime = await self._cloud.get_runtime(serial)
        except CloudError as exc:
            log.warning("runtime_read_failed", serial=serial, error=exc.message)
            self._cloud_failed(serial, exc)
            self._set_online(serial, False)
            return
        self._unreachable.discard(serial)
        came_back = runtime.online and not self._online.get(serial, True)
        self._runtime[serial] = runtime
        if runtime.online:
            self.last_good_refresh[serial] = self._clock()
        self._set_online(serial, runtime.online)
        self._publish_runtime(serial, force=False)
        if came_back:
            self._refresh_requested.set()  # settings may have changed while it was away

    async def _refresh_parameters(self) -> None:
        await asyncio.gather(
            *(
                self._refresh_parameters_of(serial)
                for serial in self._inverters
                if self._online.get(serial, True)
            )
        )

    async def _refresh_parameters_of(self, serial: str) -> None:
        try:
            read = await self._cloud.read_parameters(serial)
        except CloudError as exc:
            log.warning("parameter_read_failed", serial=serial, error=exc.message)
            self._cloud_failed(serial, exc)
            return
        self._cloud_answered(serial)
        for parameter in WRITABLE_PARAMETERS:
            value = read.current(parameter)
            if value is None:
                log.warning("parameter_missing_or_invalid", serial=serial, param=parameter.hold_param)
                continue
            self._parameters[serial][parameter.key] = value
            self._publish_state(serial, parameter.topic_path, str(value), force=False)

    # -- publishing ---------------------------------------------------------------------------------

    def _publish(
        self, topic: str, payload: str, *, retain: bool, announced_only: bool = True, qos: int = 1
    ) -> None:
        # Before the first announcement only the cache is filled: discovery must come before any state.
        # Command results are the exception: every command is answered, even one that arrives at start.
        if self._publisher is not None and (self._announced or not announced_only):
            self._publisher.publish(topic, payload, retain=retain, qos=qos)
            self.published += 1

    def _publish_state(self, serial: str, topic_path: str, payload: str, *, force: bool) -> None:
        topic = self._topics.state(serial, topic_path)
        if force or self._published.get(topic) != payload:
            self._published[topic] = payload
            self._publish(topic, payload, retain=True)

    def _cloud_failed(self, serial: str, error: CloudError) -> None:
        """A request about `serial` failed: when the cloud could not be reached, its values are stale now,
        not at the next runtime poll."""
        if isinstance(error, TransientError) and error.unreachable:
            self._unreachable.add(serial)
            self._set_online(serial, False)

    def _cloud_answered(self, serial: str) -> None:
        """A request about `serial` succeeded: available again at once, unless the cloud says it is lost."""
        if serial in self._unreachable:
            self._unreachable.discard(serial)
            runtime = self._runtime.get(serial)
            self._set_online(serial, runtime is None or runtime.online)

    def _set_online(self, serial: str, online: bool) -> None:
        changed = self._online.get(serial) != online
        self._online[serial] = online
        if changed:
            self._publish(self._topics.availability(serial), ONLINE if online else OFFLINE, retain=True)

    def _publish_runtime(self, serial: str, *, force: bool) -> None:
        runtime = self._runtime.get(serial)
        if runtime is None or not runtime.online:
            return  # offline: keep the last values, availability says they are stale
        for sensor in SENSORS:
            value = getattr(runtime, sensor.field)
            if value is not None:
                self._publish_state(serial, sensor.topic_path, _format_number(value), force=force)

    def _publish_discovery(self, *, with_removals: bool = False) -> None:
        """Every entity's config. On start, on connect and to a restarted Home Assistant: with removals
        (a number replaced by a read-only sensor, or back), at QoS 1. After a refresh the same configs are
        said again at QoS 0: a lost repetition is repeated at the next refresh, and acknowledging
        thirteen messages per inverter per refresh was most of the bridge's CPU (bench/fleet.py)."""
        qos = 1 if with_removals else 0
        for messages in self._discovery_messages().values():
            for topic, payload in messages:
                if payload or with_removals:
                    self._publish(topic, payload, retain=True, qos=qos)

    def _discovery_messages(self) -> dict[str, list[tuple[str, str]]]:
        """Every inverter's discovery messages, rendered once: they change only with the config."""
        if not self._discovery:
            for serial, inverter in self._inverters.items():
                configs = inverter_configs(self._topics, inverter, self._settings.limits_for(serial))
                self._discovery[serial] = [
                    (topic, "" if config is None else _json(config)) for topic, config in configs
                ]
        return self._discovery

    def _publish_everything(self) -> None:
        """Availability and every cached state, whether or not it changed."""
        for serial in self._inverters:
            if serial in self._online:
                self._publish(
                    self._topics.availability(serial),
                    ONLINE if self._online[serial] else OFFLINE,
                    retain=True,
                )
            for parameter in WRITABLE_PARAMETERS:
                value = self._parameters[serial].get(parameter.key)
                if value is not None:
                    self._publish_state(serial, parameter.topic_path, str(value), force=True)
            self._publish_runtime(serial, force=True)

    # -- MQTT events --------------------------------------------------------------------------------

    async def on_connect(self) -> None:
        self._connections += 1
        # The first connection delivers what is queued already; every later one follows a broker that may
        # have lost its retained messages, so everything is said again.
        if self._connections > 1 and self.ready.is_set():
            self._publish_discovery(with_removals=True)
            self._publish_everything()

    async def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic == self._topics.birth:
            if payload.strip() == b"online" and self.ready.is_set():
                log.info("home_assistant_online_discovery_resent")
                self._publish_discovery(with_removals=True)
                self._publish_everything()
            return
        target = self._topics.parse_command(topic)
        if target is None:
            return
        if retained and not payload:
            return  # someone clearing a retained /set, as the README says to: not a command
        if not topic_is_publishable(self._topics.result_for(topic)):
            # A command that cannot be answered is not carried out: nobody would learn what became of it.
            log.error(
                "command_ignored_result_unpublishable", topic=topic[:120], topic_bytes=len(topic.encode())
            )
            return
        self._accept(Command(topic, target.serial, target.topic_path, payload, retained))

    # -- commands -----------------------------------------------------------------------------------

    def _answer(self, command: Command, *, outcome: Outcome, error: str | None = None, **result: Any) -> None:
        self.command_outcomes[outcome] += 1
        topic = self._topics.result_for(command.topic)
        payload = result_payload(
            command, outcome=outcome, error=error, value=result.pop("value", None), **result
        )
        self._publish(topic, payload, retain=False, announced_only=False)
        log.info(
            "command_answered", serial=command.serial, param=command.topic_path, outcome=outcome, error=error
        )

    def _accept(self, command: Command) -> None:
        """Validate now; queue the write, replacing (and answering) a command for the same setting waiting."""
        try:
            parameter, amperes = self._validate(command)
        except ParameterValueError as refusal:
            self._answer(command, error=str(refusal), outcome=Outcome.REFUSED)
            return
        key = (command.serial, parameter.key)
        superseded = self._pending.get(key)
        if superseded is not None:
            later = f"superseded by a later command ({command.requested})"
            self._answer(superseded[0], error=later, outcome=Outcome.SUPERSEDED)
        self._pending[key] = (command, amperes)
        if key not in self._busy and self._tasks is not None:
            self._busy.add(key)
            self._idle.clear()
            self._tasks.create_task(self._write_in_turn(key, parameter), name=f"write-{key}")

    def _validate(self, command: Command) -> tuple[WritableParameter, int]:
        """The parameter and the value to write, or `ParameterValueError` with the reason to refuse."""
        if command.retained:
            raise ParameterValueError("retained command ignored: publish /set without the retain flag")
        if not self._accepting:
            raise ParameterValueError("the bridge is shutting down; nothing was written")
        if not self.ready.is_set():
            raise ParameterValueError("the bridge is still starting; try again shortly")
        if command.serial not in self._inverters:
            raise ParameterValueError(f"unknown inverter {command.serial or '(none)'}")
        parameter = parameter_by_topic_path(command.topic_path)
        if parameter is None:
            named = command.topic_path or "(none)"
            raise ParameterValueError(f"unknown parameter {named}; writable: {WRITABLE_PATHS}")
        limits = self._settings.limits_for(command.serial)
        if limits.read_only:
            raise ParameterValueError(f"read-only: the bridge is configured not to write to {command.serial}")
        maximum: int | None = getattr(limits, parameter.limit_setting)
        amperes = parameter.validate(read_number(command.payload, parameter), maximum=maximum)
        self._check_thermal_guard(command.serial, parameter, amperes)
        return parameter, amperes

    def _check_thermal_guard(self, serial: str, parameter: WritableParameter, amperes: int) -> None:
        """A hot battery (or one of unknown temperature): refuse to raise a current above the derating."""
        guard = self._settings.control.thermal_guard
        held = self._parameters[serial].get(parameter.key)
        if not guard.enabled or amperes <= guard.derated_current or (held is not None and amperes <= held):
            return
        runtime = self._runtime.get(serial)
        temperature = runtime.battery_temperature if runtime is not None and runtime.online else None
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

    async def _write_in_turn(self, key: WriteKey, parameter: WritableParameter) -> None:
        """Write the latest command waiting for one setting until none waits; one inverter's writes are
        spaced `min_write_interval_seconds` apart."""
        try:
            while key in self._pending:
                async with self._spaced(key[0]):
                    waiting = self._pending.pop(key, None)
                    if waiting is None:
                        break
                    await self._write(parameter, *waiting)
        finally:
            self._busy.discard(key)
            if not self._busy:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def _spaced(self, serial: str) -> AsyncIterator[None]:
        """One write at a time per inverter, `min_write_interval_seconds` after the previous one ended."""
        async with self._write_gates.setdefault(serial, asyncio.Lock()):
            spacing = self._settings.control.min_write_interval_seconds
            await asyncio.sleep(max(0.0, self._last_write.get(serial, -spacing) + spacing - self._clock()))
            try:
                yield
            finally:
                self._last_write[serial] = self._clock()

    async def _write(self, parameter: WritableParameter, command: Command, amperes: int) -> None:
        serial = command.serial
        history = self._history.setdefault((serial, parameter.key), SettingHistory())
        sequence = next(self._sequence)
        try:
            attempts = await self._cloud.write_parameter(serial, parameter.hold_param, str(amperes))
        except (OutcomeUnknownError, MalformedResponseError) as exc:
            # It reached the cloud, and no answer says what became of it.
            history.maybe_applied[amperes] = sequence
            self._answer_unknown(command, parameter, amperes, sequence, exc)
            return
        except RefusedError as exc:
            self._answer(command, error=exc.server_text, attempts=exc.attempts, outcome=Outcome.FAILED)
            return
        except CloudError as exc:
            self._cloud_failed(serial, exc)
            self._answer(command, error=exc.message, attempts=exc.attempts, outcome=Outcome.FAILED)
            return
        except asyncio.CancelledError:
            history.maybe_applied[amperes] = sequence
            stopped = "the bridge stopped before the cloud answered; it may have been applied"
            self._answer(
                command, error=stopped, value=amperes, applied="unknown", attempts=1, outcome=Outcome.UNKNOWN
            )
            raise
        history.maybe_applied[amperes] = sequence
        self._cloud_answered(serial)
        self._refresh_requested.set()
        held = await self._read_back(serial, parameter)
        if held == amperes:
            history.confirmed = (sequence, amperes, command)
            self._answer(
                command,
                value=amperes,
                applied=True,
                confirmed=True,
                attempts=attempts,
                outcome=Outcome.ACCEPTED,
            )
            return
        problem = (
            "written, but reading it back failed; the next refresh will show what the inverter holds"
            if held is None
            else f"the cloud accepted {amperes}, but the inverter holds {held}"
        )
        self._answer(
            command,
            value=amperes,
            error=problem,
            applied=True,
            attempts=attempts,
            outcome=Outcome.UNCONFIRMED,
        )

    def _answer_unknown(
        self, command: Command, parameter: WritableParameter, amperes: int, sequence: int, error: CloudError
    ) -> None:
        """Say that the write's fate is unknown, and find it out once the cloud has had time to act."""
        delay = self._settings.control.recheck_after_unknown_seconds
        self._answer(
            command,
            value=amperes,
            applied="unknown",
            attempts=error.attempts,
            outcome=Outcome.UNKNOWN,
            error=(
                f"{error.message}; the write may or may not have been applied, and was not sent again. "
                f"The setting will be read again in {delay:g} s"
            ),
        )
        if self._tasks is not None:
            self._tasks.create_task(
                self._recheck(command, parameter, amperes, sequence, delay), name=f"recheck-{command.serial}"
            )

    async def _recheck(
        self, command: Command, parameter: WritableParameter, amperes: int, sequence: int, delay: float
    ) -> None:
        """After a write of unknown fate: read the setting, publish it, and undo a late landing over a newer
        confirmed command of this bridge, once. A value nobody sent through the bridge is left alone."""
        await asyncio.sleep(delay)
        serial = command.serial
        key = (serial, parameter.key)
        held = await self._read_back(serial, parameter)
        history = self._history[key]
        newest = history.confirmed
        if held is None:
            problem = (
                f"reading {parameter.name} again failed, so whether {amperes} was applied is still unknown"
            )
            self._answer(command, value=amperes, applied="unknown", error=problem, outcome=Outcome.RECHECKED)
            return
        self._cloud_answered(serial)
        newer_written = newest is not None and newest[0] > sequence
        if newest is not None and newer_written and held != newest[1]:
            from_older = history.maybe_applied.get(held, newest[0]) < newest[0]
            if from_older and key not in self._pending and key not in self._busy:
                await self._reassert(command, parameter, held, newest[1], newest[2])
                return
        if held == amperes:
            self._answer(
                command, value=amperes, applied=True, confirmed=True, found=held, outcome=Outcome.RECHECKED
            )
            return
        applied: Applied = "unknown" if newer_written else False
        problem = f"the inverter holds {held}, not {amperes}" + (
            " (a later command was written since)" if newer_written else ""
        )
        self._answer(
            command, value=amperes, applied=applied, error=problem, found=held, outcome=Outcome.RECHECKED
        )

    async def _reassert(
        self, late: Command, parameter: WritableParameter, found: int, amperes: int, newest: Command
    ) -> None:
        """A late write of an older command undid `newest`: write its value again, once, and say so."""
        serial = late.serial
        log.warning(
            "late_write_undid_newer_command",
            serial=serial,
            param=parameter.hold_param,
            found=found,
            rewrite=amperes,
        )
        why = f"the inverter held {found} from an older command that landed late; {amperes} was written again"
        async with self._spaced(serial):
            try:
                attempts = await self._cloud.write_parameter(serial, parameter.hold_param, str(amperes))
            except CloudError as exc:
                self._answer(
                    newest,
                    value=amperes,
                    found=found,
                    applied="unknown" if isinstance(exc, OutcomeUnknownError) else False,
                    attempts=exc.attempts,
                    error=f"{why}, but the write failed: {exc.message}",
                    outcome=Outcome.REASSERTED,
                )
                return
            held = await self._read_back(serial, parameter)
        confirmed = held == amperes
        self._answer(
            newest,
            value=amperes,
            found=found,
            applied=True,
            confirmed=confirmed,
            attempts=attempts,
            error=None if confirmed else f"{why}, but reading it back gave {held}",
            outcome=Outcome.REASSERTED,
        )

    async def _read_back(self, serial: str, parameter: WritableParameter) -> int | None:
        """What the inverter holds now, read from the cloud and published; `None` if that is not known."""
        try:
            # Only the parameter's own register: the cloud reads any window, and one register is cheap.
            values = await self._cloud.read_window(serial, parameter.register, 1)
            held = parameter.parse_cloud_value(values[parameter.hold_param])
        except (CloudError, KeyError, ParameterValueError) as exc:
            log.warning("read_back_failed", serial=serial, param=parameter.hold_param, error=str(exc))
            return None
        self._parameters[serial][parameter.key] = held
        self._publish_state(serial, parameter.topic_path, str(held), force=True)
        return held

    async def shutdown(self, grace_seconds: float) -> None:
        """Take no more commands, refuse those waiting, and give in-flight writes `grace_seconds`."""
        self._accepting = False
        for command, _amperes in self._pending.values():
            self._answer(
                command, error="the bridge is shutting down; nothing was written", outcome=Outcome.REFUSED
            )
        self._pending.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_seconds):
                await self._idle.wait()


def _format_number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def _json(config: object) -> str:
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False)
