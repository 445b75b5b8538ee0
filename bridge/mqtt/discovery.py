"""Home Assistant MQTT discovery payloads, built from the catalogue. Plain functions, no I/O."""

from __future__ import annotations

from typing import Any

from bridge import PROJECT_URL, __version__
from bridge.catalogue import SENSORS, WRITABLE_PARAMETERS, Sensor, WritableParameter
from bridge.config import InverterLimits
from bridge.devices import Device
from bridge.mqtt.topics import Topics

MANUFACTURER = "EG4 Electronics"
ORIGIN = {"name": "eg4-mqtt-bridge", "sw_version": __version__, "support_url": PROJECT_URL}

#: A config topic and its payload; `None` clears a retained config, removing the entity.
DiscoveryMessage = tuple[str, dict[str, Any] | None]


def device_block(topics: Topics, inverter: Device) -> dict[str, Any]:
    """The device as Home Assistant shows it. Its name prefixes every entity id: `eg4_18kpv_<serial>_...`."""
    block: dict[str, Any] = {
        "identifiers": [topics.node_id(inverter.serial)],
        "name": f"EG4 {inverter.model} {inverter.serial}",
        "manufacturer": MANUFACTURER,
        "model": inverter.model,
        "serial_number": inverter.serial,
    }
    if inverter.firmware:
        block["sw_version"] = inverter.firmware
    return block


def _common(topics: Topics, inverter: Device, key: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "unique_id": f"{topics.node_id(inverter.serial)}_{key}",
        "availability": [
            {
                "topic": topics.bridge_status,
                "payload_available": "online",
                "payload_not_available": "offline",
            },
            {
                "topic": topics.availability(inverter.serial),
                "payload_available": "online",
                "payload_not_available": "offline",
            },
        ],
        "availability_mode": "all",
        "device": device_block(topics, inverter),
        "origin": ORIGIN,
        "qos": 1,
    }


def number_config(
    topics: Topics, inverter: Device, parameter: WritableParameter, *, maximum: int | None = None
) -> DiscoveryMessage:
    config = _common(topics, inverter, parameter.key, parameter.name) | {
        "command_topic": topics.command(inverter.serial, parameter.topic_path),
        "state_topic": topics.state(inverter.serial, parameter.topic_path),
        "min": parameter.minimum,
        "max": parameter.maximum if maximum is None else maximum,
        "step": parameter.step,
        "mode": "box",
        "unit_of_measurement": parameter.unit,
        "device_class": parameter.device_class,
        "icon": parameter.icon,
        "entity_category": "config",
        "retain": False,
    }
    return topics.discovery("number", inverter.serial, parameter.key), config


def read_only_config(topics: Topics, inverter: Device, parameter: WritableParameter) -> DiscoveryMessage:
    """A writable parameter shown as a sensor: its value, and no way to send a command."""
    config = _common(topics, inverter, parameter.key, parameter.name) | {
        "state_topic": topics.state(inverter.serial, parameter.topic_path),
        "unit_of_measurement": parameter.unit,
        "device_class": parameter.device_class,
        "state_class": "measurement",
        "icon": parameter.icon,
        "entity_category": "diagnostic",
    }
    return topics.discovery("sensor", inverter.serial, parameter.key), config


def sensor_config(topics: Topics, inverter: Device, sensor: Sensor) -> DiscoveryMessage:
    config = _common(topics, inverter, sensor.key, sensor.name) | {
        "state_topic": topics.state(inverter.serial, sensor.topic_path),
        "state_class": sensor.state_class,
    }
    if sensor.unit is not None:
        config["unit_of_measurement"] = sensor.unit
    if sensor.device_class is not None:
        config["device_class"] = sensor.device_class
    if sensor.icon is not None:
        config["icon"] = sensor.icon
    return topics.discovery("sensor", inverter.serial, sensor.key), config


def inverter_configs(
    topics: Topics, inverter: Device, limits: InverterLimits | None = None
) -> list[DiscoveryMessage]:
    """Every entity of one inverter: a number per writable parameter (its `max` the configured limit), or,
    read-only, a sensor in its place with the number removed; and a sensor per runtime value."""
    limits = limits or InverterLimits()
    controls: list[DiscoveryMessage] = []
    for parameter in WRITABLE_PARAMETERS:
        number_topic, number = number_config(
            topics, inverter, parameter, maximum=getattr(limits, parameter.limit_setting)
        )
        sensor_topic, sensor = read_only_config(topics, inverter, parameter)
        if limits.read_only:
            controls += [(number_topic, None), (sensor_topic, sensor)]
        else:
            controls += [(sensor_topic, None), (number_topic, number)]
    sensors = [sensor_config(topics, inverter, sensor) for sensor in SENSORS]
    return controls + sensors
