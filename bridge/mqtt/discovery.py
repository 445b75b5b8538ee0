"""Home Assistant MQTT discovery, built from the catalogue. Plain functions, no I/O.

One retained device-based config per inverter (`<prefix>/device/eg4_<sn>/config`) carries every entity of
it (`cmps`) and the `origin`. The first release announced one config per entity; those topics are migrated
(`migrate_discovery`, then emptied) so that Home Assistant keeps every entity id and its history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from bridge import PROJECT_URL, __version__
from bridge.core.catalogue import (
    BATTERY_SENSORS,
    ENERGY_SENSORS,
    FIRST_RELEASE_SENSORS,
    GRIDBOSS_SENSORS,
    GROUP_SENSORS,
    LAST_EVENT,
    RETIRED,
    SENSORS,
    WRITABLE_PARAMETERS,
)
from bridge.core.config import InverterSettings
from bridge.core.devices import Device
from bridge.core.kinds import NumberSetting, SelectSetting, Sensor, Setting, SwitchSetting, WindowSetting
from bridge.core.readings import BatteryModule
from bridge.mqtt.topics import OFFLINE, ONLINE, Topics

MANUFACTURER: Final = "EG4 Electronics"
ORIGIN: Final = {"name": "eg4-mqtt-bridge", "sw_version": __version__, "support_url": PROJECT_URL}
#: What a window's text entity accepts: HH:MM-HH:MM.
WINDOW_PATTERN: Final = r"^[0-9]{1,2}:[0-9]{2}-[0-9]{1,2}:[0-9]{2}$"

#: Home Assistant's abbreviations of the keys this bridge sends (its `abbreviations.py`): a device config
#: is a quarter smaller with them. Only these keys are abbreviated; any other is sent in full, which Home
#: Assistant always accepts. No base topic (`~`): whether Home Assistant applies a device-level base topic
#: to every component could not be checked against one here, and a wrong guess would break every entity.
ABBREVIATIONS: Final = {
    "platform": "p",
    "device": "dev",
    "origin": "o",
    "components": "cmps",
    "availability": "avty",
    "availability_mode": "avty_mode",
    "payload_available": "pl_avail",
    "payload_not_available": "pl_not_avail",
    "topic": "t",
    "unique_id": "uniq_id",
    "state_topic": "stat_t",
    "command_topic": "cmd_t",
    "json_attributes_topic": "json_attr_t",
    "value_template": "val_tpl",
    "unit_of_measurement": "unit_of_meas",
    "device_class": "dev_cla",
    "state_class": "stat_cla",
    "entity_category": "ent_cat",
    "icon": "ic",
    "retain": "ret",
    "options": "ops",
    "payload_on": "pl_on",
    "payload_off": "pl_off",
    "state_on": "stat_on",
    "state_off": "stat_off",
    "payload_press": "pl_prs",
}
#: Home Assistant's abbreviations of the device block's keys.
DEVICE_ABBREVIATIONS: Final = {
    "identifiers": "ids",
    "manufacturer": "mf",
    "model": "mdl",
    "sw_version": "sw",
}
#: Home Assistant's abbreviations of the origin block's keys.
ORIGIN_ABBREVIATIONS: Final = {"sw_version": "sw", "support_url": "url"}

#: A config topic and its payload.
DiscoveryMessage = tuple[str, dict[str, Any]]


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


def _entity(topics: Topics, inverter: Device, platform: str, key: str, name: str) -> dict[str, Any]:
    return {"platform": platform, "name": name, "unique_id": f"{topics.node_id(inverter.serial)}_{key}"}


def number_bounds(
    setting: NumberSetting, limits: InverterSettings, held: str | None
) -> tuple[Decimal, Decimal]:
    """The least and most a number control offers: the setting's range, its top lowered to the owner's
    limit, then widened to the value held, so that Home Assistant always shows what the inverter holds
    (a state outside the announced bounds would be `unknown` there, with an error in its log)."""
    maximum = limits.maximum_for(setting)
    low, high = setting.minimum, setting.maximum if maximum is None else min(setting.maximum, maximum)
    if held is not None:
        value = Decimal(held)
        low, high = min(low, value), max(high, value)
    return low, high


def setting_component(
    topics: Topics,
    inverter: Device,
    setting: Setting,
    limits: InverterSettings,
    *,
    read_only: bool,
    held: str | None = None,
) -> dict[str, Any]:
    """A setting as a control (number, switch, text), or read-only as a sensor showing its value."""
    serial = inverter.serial
    state_topic = topics.state(serial, setting.topic_path)
    if read_only:
        sensor = _entity(topics, inverter, "sensor", setting.key, setting.name) | {
            "state_topic": state_topic,
            "icon": setting.icon,
            "entity_category": "diagnostic",
        }
        if isinstance(setting, NumberSetting):
            sensor |= {"unit_of_measurement": setting.unit, "state_class": "measurement"}
            if setting.device_class is not None:
                sensor["device_class"] = setting.device_class
        return sensor
    control = _entity(topics, inverter, setting.component, setting.key, setting.name) | {
        "state_topic": state_topic,
        "command_topic": topics.command(serial, setting.topic_path),
        "icon": setting.icon,
        "entity_category": "config",
        "retain": False,
    }
    if isinstance(setting, NumberSetting):
        lower, upper = number_bounds(setting, limits, held)
        control |= {
            "min": _number(lower),
            "max": _number(upper),
            "step": _number(setting.step),
            "mode": "box",
            "unit_of_measurement": setting.unit,
        }
        if setting.device_class is not None:
            control["device_class"] = setting.device_class
    elif isinstance(setting, SwitchSetting):
        control |= {"payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF"}
    elif isinstance(setting, WindowSetting):
        control |= {"pattern": WINDOW_PATTERN, "min": 9, "max": 11}
    elif isinstance(setting, SelectSetting):
        control |= {"options": list(setting.options)}
    return control


def _number(value: object) -> int | float:
    number = float(str(value))
    return int(number) if number.is_integer() else number


def sensor_component(topics: Topics, inverter: Device, sensor: Sensor) -> dict[str, Any]:
    """A read-only value as a sensor (or a yes/no binary sensor) of its device."""
    component = _entity(topics, inverter, sensor.platform, sensor.key, sensor.name) | {
        "state_topic": topics.state(inverter.serial, sensor.topic_path),
    }
    if sensor.state_class is not None:
        component["state_class"] = sensor.state_class
    if sensor.platform == "binary_sensor":
        component |= {"payload_on": "ON", "payload_off": "OFF"}
    if sensor.unit is not None:
        component["unit_of_measurement"] = sensor.unit
    if sensor.device_class is not None:
        component["device_class"] = sensor.device_class
    if sensor.icon is not None:
        component["icon"] = sensor.icon
    if sensor.decimals:
        component["suggested_display_precision"] = sensor.decimals
    if sensor.diagnostic:
        component["entity_category"] = "diagnostic"
    return component


def device_config(
    topics: Topics,
    inverter: Device,
    settings: Iterable[Setting],
    limits: InverterSettings | None = None,
    *,
    energy: bool = True,
    held: Mapping[str, str] | None = None,
    sensors: frozenset[str] | None = None,
    last_event: bool = False,
) -> DiscoveryMessage:
    """The one config of an inverter: every offered setting (a control, or a sensor when read-only), every
    runtime sensor and, when the cloud gives them, the energy counters; a problem sensor for settings held
    beyond their limit; the Last Event sensor where the cloud's event log answered (`last_event`); and,
    for each retired setting, the platform alone, which removes its entity."""
    limits = limits or InverterSettings()
    held = held or {}
    components: dict[str, dict[str, Any]] = {}
    for retired in RETIRED:
        components[retired.key] = {"platform": retired.platform}
    for setting in settings:
        components[setting.key] = setting_component(
            topics, inverter, setting, limits, read_only=bool(limits.read_only), held=held.get(setting.key)
        )
    components["beyond_limit"] = _entity(
        topics, inverter, "binary_sensor", "beyond_limit", "Setting Beyond Limit"
    ) | {
        # On while the inverter holds a setting above the owner's limit: set by hand or another app.
        "state_topic": topics.beyond_limit(inverter.serial),
        "json_attributes_topic": topics.beyond_limit_attributes(inverter.serial),
        "payload_on": "ON",
        "payload_off": "OFF",
        "device_class": "problem",
        "entity_category": "diagnostic",
    }
    for sensor in (*SENSORS, *(ENERGY_SENSORS if energy else ())):
        if sensors is None or sensor.key in sensors:  # `sensors`: only those its way in gives
            components[sensor.key] = sensor_component(topics, inverter, sensor)
    if last_event:
        # Its attributes say whether the event is still ongoing. No "event active" problem sensor: the
        # newest event alone is read, and an older one may still be open while it has ended.
        components[LAST_EVENT.key] = sensor_component(topics, inverter, LAST_EVENT) | {
            "json_attributes_topic": topics.last_event_attributes(inverter.serial),
        }
    components["refresh"] = _entity(topics, inverter, "button", "refresh", "Refresh Now") | {
        # Reads every inverter again; the answer comes on the bridge's refresh response topic.
        "command_topic": topics.refresh_request,
        "payload_press": "{}",
        "icon": "mdi:refresh",
        "entity_category": "diagnostic",
    }
    components["last_command"] = _entity(topics, inverter, "sensor", "last_command", "Last Command") | {
        # A refused command shows here: Home Assistant accepts any value its control allows, and only
        # the bridge knows whether the inverter took it.
        # State and attributes from one message, so that Home Assistant never shows one without the other.
        "state_topic": topics.last_command_attributes(inverter.serial),
        "value_template": "{{ value_json.outcome }}",
        "json_attributes_topic": topics.last_command_attributes(inverter.serial),
        "icon": "mdi:console-line",
        "entity_category": "diagnostic",
    }
    config = {
        "device": device_block(topics, inverter),
        "origin": ORIGIN,
        "cmps": components,
        "availability": _availability(topics.bridge_status, topics.availability(inverter.serial)),
        "availability_mode": "all",
        "qos": 1,
    }
    return topics.device_discovery(inverter.serial), config


def battery_module_config(topics: Topics, inverter: Device, module: BatteryModule) -> dict[str, Any]:
    """One battery module as a device of its own, shown under its inverter (`via_device`); its sensors are
    published under `<serial>/battery_module/<module id>/`."""
    serial, module_id = inverter.serial, module.module_id
    node = f"{topics.node_id(serial)}_battery_{module_id}"
    device: dict[str, Any] = {
        "identifiers": [node],
        "name": f"EG4 Battery {module_id} ({serial})",
        "manufacturer": MANUFACTURER,
        "model": "Battery module",
        "via_device": topics.node_id(serial),
    }
    if not module.serial.startswith("Battery_ID_"):
        device["serial_number"] = module.serial
    if module.firmware:
        device["sw_version"] = module.firmware
    path = topics.battery_module(serial, module_id)
    components: dict[str, dict[str, Any]] = {}
    for sensor in BATTERY_SENSORS:
        component = sensor_component(topics, inverter, sensor) | {
            "unique_id": f"{node}_{sensor.topic_path}",
            "state_topic": topics.state(serial, f"{path}/{sensor.topic_path}"),
        }
        components[sensor.key] = component
    return {
        "device": device,
        "origin": ORIGIN,
        "cmps": components,
        "availability": [
            {"topic": topics.bridge_status, "payload_available": ONLINE, "payload_not_available": OFFLINE},
            {
                "topic": topics.availability(serial),
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            },
            {
                "topic": topics.state(serial, f"{path}/availability"),
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            },
        ],
        "availability_mode": "all",
        "qos": 1,
    }


def gridboss_config(
    topics: Topics,
    serial: str,
    model: str,
    settings: Iterable[Setting] = (),
    *,
    read_only: bool = False,
    sensors: frozenset[str] | None = None,
) -> dict[str, Any]:
    """A GridBOSS as a device of its own: grid, load, backup side, generator and smart ports, and the
    settings offered on it (its smart ports' modes, where `control.expose` names them). `sensors`: the keys
    its transport gives (its registers, without the cloud); `None`: every sensor."""
    box = Device(serial, model)
    components = {
        sensor.key: sensor_component(topics, box, sensor)
        for sensor in GRIDBOSS_SENSORS
        if sensors is None or sensor.key in sensors
    }
    no_limits = InverterSettings()  # a select has no bound to narrow
    for setting in settings:
        components[setting.key] = setting_component(topics, box, setting, no_limits, read_only=read_only)
    return {
        "device": {
            "identifiers": [topics.node_id(serial)],
            "name": f"EG4 GridBOSS {serial}",
            "manufacturer": MANUFACTURER,
            "model": model,
            "serial_number": serial,
        },
        "origin": ORIGIN,
        "cmps": components,
        "availability": _availability(topics.bridge_status, topics.availability(serial)),
        "availability_mode": "all",
        "qos": 1,
    }


def group_config(topics: Topics, group: str, members: Iterable[str]) -> dict[str, Any]:
    """A parallel group as a device of its own: its inverters' powers and energy, summed. Available while
    every inverter of it is."""
    place = topics.group(group)
    node = topics.node_id(place)
    plant, _, name = group.partition("_")
    components = {
        sensor.key: sensor_component(topics, Device(place, "Parallel group"), sensor)
        for sensor in GROUP_SENSORS
    }
    return {
        "device": {
            "identifiers": [node],
            "name": f"EG4 Parallel Group {name} (plant {plant})",
            "manufacturer": MANUFACTURER,
            "model": f"Parallel group of {', '.join(sorted(members))}",
        },
        "origin": ORIGIN,
        "cmps": components,
        "availability": _availability(topics.bridge_status, topics.availability(place)),
        "availability_mode": "all",
        "qos": 1,
    }


def _availability(*availability_topics: str) -> list[dict[str, str]]:
    """Available while every one of these topics says `online` (with `availability_mode: all`)."""
    return [
        {"topic": topic, "payload_available": ONLINE, "payload_not_available": OFFLINE}
        for topic in availability_topics
    ]


def abbreviated(config: dict[str, Any]) -> dict[str, Any]:
    """A device config with Home Assistant's abbreviated keys, as it is sent."""
    short = _renamed(config, ABBREVIATIONS)
    for block, names in (("dev", DEVICE_ABBREVIATIONS), ("o", ORIGIN_ABBREVIATIONS)):
        if block in short:
            short[block] = _renamed(short[block], names)
    if "avty" in short:
        short["avty"] = [_renamed(entry, ABBREVIATIONS) for entry in short["avty"]]
    if "cmps" in short:
        short["cmps"] = {key: _renamed(component, ABBREVIATIONS) for key, component in short["cmps"].items()}
    return short


def _renamed(mapping: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {names.get(key, key): value for key, value in mapping.items()}


def first_release_topics(topics: Topics, serial: str) -> list[str]:
    """The per-entity config topics the first release announced: a number and a read-only sensor for each
    battery current, and a sensor for each runtime value."""
    found = []
    for parameter in WRITABLE_PARAMETERS:
        found += [
            topics.discovery("number", serial, parameter.key),
            topics.discovery("sensor", serial, parameter.key),
        ]
    found += [topics.discovery("sensor", serial, key) for key in FIRST_RELEASE_SENSORS]
    return found


MIGRATE: Final = {"migrate_discovery": True}
