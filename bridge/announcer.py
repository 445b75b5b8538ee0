"""What the bridge says on MQTT: states when they change, availability, discovery and results, and all of
it again on a reconnect and when Home Assistant restarts. It queues messages through a `Publisher`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

import structlog

from bridge.catalogue import SENSORS, WRITABLE_PARAMETERS, Sensor, WritableParameter
from bridge.cloud import Runtime
from bridge.commands import Command, Result, result_payload
from bridge.config import Settings
from bridge.devices import Device
from bridge.mqtt.discovery import inverter_configs
from bridge.mqtt.topics import OFFLINE, ONLINE, Topics

log = structlog.get_logger(__name__)


class Publisher(Protocol):
    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None: ...


class Announcer:
    def __init__(self, topics: Topics, settings: Settings) -> None:
        self._topics = topics
        self._settings = settings
        self._publisher: Publisher | None = None
        self._said: dict[str, str] = {}  # retained topic -> the payload last published there
        self._online: dict[str, bool] = {}
        self._discovery: dict[str, list[tuple[str, str]]] = {}
        self._announced = False
        #: Messages handed to the link, for metrics.
        self.messages = 0

    def attach(self, publisher: Publisher) -> None:
        self._publisher = publisher

    @property
    def online(self) -> dict[str, bool]:
        """Each inverter's availability as last said."""
        return self._online

    def _publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1, always: bool = False) -> None:
        # Before the first announcement only the cache is filled: discovery must come before any state.
        # Command results are the exception (`always`): every command is answered, even at start.
        if self._publisher is not None and (self._announced or always):
            self._publisher.publish(topic, payload, retain=retain, qos=qos)
            self.messages += 1

    def state(self, serial: str, topic_path: str, payload: str, *, force: bool = False) -> None:
        """A retained state, published when it differs from what was said last (or when `force`d)."""
        topic = self._topics.state(serial, topic_path)
        if force or self._said.get(topic) != payload:
            self._said[topic] = payload
            self._publish(topic, payload, retain=True)

    def parameter(
        self, serial: str, parameter: WritableParameter, value: int, *, force: bool = False
    ) -> None:
        self.state(serial, parameter.topic_path, str(value), force=force)

    def availability(self, serial: str, online: bool) -> None:
        """Said when it changes."""
        changed = self._online.get(serial) != online
        self._online[serial] = online
        if changed:
            self._publish(self._topics.availability(serial), ONLINE if online else OFFLINE, retain=True)

    def runtime(self, serial: str, runtime: Runtime | None, *, force: bool = False) -> None:
        if runtime is None or not runtime.online:
            return  # offline: keep the last values, availability says they are stale
        for sensor in SENSORS:
            value = getattr(runtime, sensor.field)
            if value is not None:
                self.state(serial, sensor.topic_path, format_reading(sensor, value), force=force)

    def result(self, command: Command, result: Result) -> None:
        self._publish(
            self._topics.result_for(command.topic), result_payload(command, result), retain=False, always=True
        )

    def response(self, topic: str, payload: str) -> None:
        """An answer to a request on one of the bridge's own topics; never retained."""
        self._publish(topic, payload, retain=False, always=True)

    def announce(
        self, devices: Iterable[Device], parameters: dict[str, dict[str, int]], runtime: dict[str, Runtime]
    ) -> None:
        """The first announcement, and again after a reconnect or Home Assistant's birth: discovery with
        removals, then availability and every cached state, whether or not it changed."""
        self._announced = True
        devices = list(devices)
        self.discovery(devices, with_removals=True)
        for device in devices:
            serial = device.serial
            if serial in self._online:
                online = self._online[serial]
                self._publish(self._topics.availability(serial), ONLINE if online else OFFLINE, retain=True)
            for parameter in WRITABLE_PARAMETERS:
                value = parameters.get(serial, {}).get(parameter.key)
                if value is not None:
                    self.parameter(serial, parameter, value, force=True)
            self.runtime(serial, runtime.get(serial), force=True)

    def discovery(self, devices: Iterable[Device], *, with_removals: bool = False) -> None:
        """Every entity's config. On start, on connect and to a restarted Home Assistant: with removals
        (a number replaced by a read-only sensor, or back), at QoS 1. After a refresh the same configs are
        said again at QoS 0: a lost repetition is repeated at the next refresh, and acknowledging
        thirteen messages per inverter per refresh was most of the bridge's CPU (bench/fleet.py)."""
        qos = 1 if with_removals else 0
        for device in devices:
            for topic, payload in self._discovery_of(device):
                if payload or with_removals:
                    self._publish(topic, payload, retain=True, qos=qos)

    def _discovery_of(self, device: Device) -> list[tuple[str, str]]:
        """An inverter's discovery messages, rendered once: they change only with the config."""
        rendered = self._discovery.get(device.serial)
        if rendered is None:
            configs = inverter_configs(self._topics, device, self._settings.limits_for(device.serial))
            rendered = [(topic, "" if config is None else _json(config)) for topic, config in configs]
            self._discovery[device.serial] = rendered
        return rendered


def format_reading(sensor: Sensor, value: float) -> str:
    """One number format per sensor: whole numbers for amperes, watts and percent, tenths for volts."""
    if sensor.decimals == 0:
        return str(round(value))
    return f"{value:.{sensor.decimals}f}"


def _json(config: object) -> str:
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False)
