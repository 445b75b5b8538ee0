"""Where the cloud and MQTT meet: the cache, the refresh loops, command handling and results.

The cloud client knows nothing of MQTT and the link knows nothing of HTTP; the coordinator reads one and
publishes to the other through a `Publisher`, a single method that queues a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Final, Protocol

import structlog

from bridge.catalogue import (
    SENSORS,
    WRITABLE_PARAMETERS,
    WritableParameter,
    parameter_by_topic_path,
)
from bridge.cloud import CloudClient, InverterInfo, Runtime
from bridge.commands import Command, read_number, result_payload
from bridge.config import Settings
from bridge.errors import AuthenticationError, CloudError, ParameterValueError, RefusedError
from bridge.mqtt.discovery import inverter_configs
from bridge.mqtt.link import OFFLINE, ONLINE
from bridge.mqtt.topics import Topics

log = structlog.get_logger(__name__)

WRITABLE_PATHS: Final = ", ".join(parameter.topic_path for parameter in WRITABLE_PARAMETERS)
STARTUP_RETRY_SECONDS: Final = (5.0, 15.0, 60.0)


class Publisher(Protocol):
    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None: ...


WriteKey = tuple[str, str]


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
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            await self._discover()
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
            if device.has_battery_parameters:
                self._inverters[device.serial] = device
                self._parameters[device.serial] = {}
            else:
                log.info("device_without_battery_settings_skipped", serial=device.serial, model=device.model)

    async def _runtime_loop(self) -> None:
        while True:
            await asyncio.sleep(self._polling.runtime_seconds)
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
            self._set_online(serial, False)
            return
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
            return
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
        if target is not None:
            self._accept(Command(topic, target.serial, target.topic_path, payload, retained))

    # -- commands -----------------------------------------------------------------------------------

    def _answer(self, command: Command, *, outcome: str, error: str | None = None, **result: Any) -> None:
        self.command_outcomes[outcome] += 1
        topic = self._topics.result_for(command.topic)
        payload = result_payload(command, error=error, value=result.pop("value", None), **result)
        self._publish(topic, payload, retain=False, announced_only=False)
        log.info(
            "command_answered", serial=command.serial, param=command.topic_path, outcome=outcome, error=error
        )

    def _accept(self, command: Command) -> None:
        """Validate now; queue the write, replacing (and answering) a command for the same setting waiting."""
        try:
            parameter, amperes = self._validate(command)
        except ParameterValueError as refusal:
            self._answer(command, error=str(refusal), outcome="refused")
            return
        key = (command.serial, parameter.key)
        superseded = self._pending.get(key)
        if superseded is not None:
            later = f"superseded by a later command ({command.requested})"
            self._answer(superseded[0], error=later, outcome="superseded")
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
        serial = key[0]
        try:
            while key in self._pending:
                async with self._write_gates.setdefault(serial, asyncio.Lock()):
                    spacing = self._settings.control.min_write_interval_seconds
                    await asyncio.sleep(
                        max(0.0, self._last_write.get(serial, -spacing) + spacing - self._clock())
                    )
                    waiting = self._pending.pop(key, None)
                    if waiting is None:
                        break
                    try:
                        await self._write(parameter, *waiting)
                    finally:
                        self._last_write[serial] = self._clock()
        finally:
            self._busy.discard(key)
            if not self._busy:
                self._idle.set()

    async def _write(self, parameter: WritableParameter, command: Command, amperes: int) -> None:
        serial = command.serial
        try:
            attempts = await self._cloud.write_parameter(serial, parameter.hold_param, str(amperes))
        except RefusedError as exc:
            self._answer(command, error=exc.server_text, attempts=exc.attempts, outcome="failed")
            return
        except CloudError as exc:
            self._answer(command, error=exc.message, attempts=exc.attempts, outcome="failed")
            return
        except asyncio.CancelledError:
            stopped = "the bridge stopped before the cloud answered; it may have been applied"
            self._answer(command, error=stopped, attempts=1, outcome="failed")
            raise
        self._refresh_requested.set()
        held = await self._read_back(serial, parameter)
        if held is not None:
            self._parameters[serial][parameter.key] = held
            self._publish_state(serial, parameter.topic_path, str(held), force=True)
        if held == amperes:
            self._answer(command, value=amperes, confirmed=True, attempts=attempts, outcome="accepted")
            return
        problem = (
            "written, but reading it back failed; the next refresh will show what the inverter holds"
            if held is None
            else f"the cloud accepted {amperes}, but the inverter holds {held}"
        )
        self._answer(command, value=amperes, error=problem, attempts=attempts, outcome="unconfirmed")

    async def _read_back(self, serial: str, parameter: WritableParameter) -> int | None:
        """What the inverter holds now, read from the cloud; `None` when that cannot be known."""
        try:
            # Only the parameter's own register: the cloud reads any window, and one register is cheap.
            values = await self._cloud.read_window(serial, parameter.register, 1)
            return parameter.parse_cloud_value(values[parameter.hold_param])
        except (CloudError, KeyError, ParameterValueError) as exc:
            log.warning("read_back_failed", serial=serial, param=parameter.hold_param, error=str(exc))
            return None

    async def shutdown(self, grace_seconds: float) -> None:
        """Take no more commands, refuse those waiting, and give in-flight writes `grace_seconds`."""
        self._accepting = False
        for command, _amperes in self._pending.values():
            self._answer(command, error="the bridge is shutting down; nothing was written", outcome="refused")
        self._pending.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_seconds):
                await self._idle.wait()


def _format_number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def _json(config: object) -> str:
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False)
