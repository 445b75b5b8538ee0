"""What the bridge says on MQTT: states when they change, availability, discovery and results, and all of
it again on a reconnect and when Home Assistant restarts. It queues messages through a `Publisher`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date
from typing import Final, Protocol

import structlog

from bridge import __version__
from bridge.core.catalogue import (
    BATTERY_SENSORS,
    ENERGY_SENSORS,
    GRIDBOSS_SENSORS,
    GROUP_SENSORS,
    LAST_EVENT,
    RETIRED,
    SENSORS,
    setting_by_key,
)
from bridge.core.commands import Command, Result, result_payload
from bridge.core.config import Settings
from bridge.core.devices import Device
from bridge.core.fleet import Fleet
from bridge.core.kinds import Sensor, Setting
from bridge.core.readings import BatteryBank, BatteryModule, Energy, Event, Runtime
from bridge.mqtt.discovery import (
    MIGRATE,
    abbreviated,
    battery_module_config,
    device_config,
    first_release_topics,
    gridboss_config,
    group_config,
)
from bridge.mqtt.topics import OFFLINE, ONLINE, Topics

log = structlog.get_logger(__name__)


class Publisher(Protocol):
    """Where the announcer hands its messages (the MQTT link)."""

    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None: ...


class Announcer:
    """Publishes what the fleet state holds: the poller's `Announcements`, and everything again on every
    announcement."""

    def __init__(
        self, topics: Topics, settings: Settings, fleet: Fleet, today: Callable[[], date] = date.today
    ) -> None:
        self._topics = topics
        self._settings = settings
        self._fleet = fleet
        self._today = today
        #: Each energy counter's highest value published, and the day it was published on, by device and
        #: topic path.
        self._counted: dict[str, dict[str, tuple[float, date]]] = {}
        #: Energy counters whose lower reading is being held back (logged once until it recovers).
        self._held_back: set[tuple[str, str]] = set()
        #: Energy readings held back because they were lower than the last one published, for metrics.
        self.energy_held_back = 0
        self._publisher: Publisher | None = None
        self._room: Callable[[], Awaitable[None]] = _no_wait
        #: The payload last published on each retained state topic, by device (serial or place) and topic
        #: path: a fleet's hundred thousand topics are not kept as strings, only the catalogue's paths.
        self._said: dict[str, dict[str, str]] = {}
        #: The same for the few retained topics that are not `<device>/<path>/state`, by topic.
        self._said_elsewhere: dict[str, str] = {}
        #: What each inverter's config last showed: a changed one is sent at QoS 1, a repetition at QoS 0.
        self._discovery: dict[str, tuple[object, ...]] = {}
        #: Each config shape rendered once, with a mark where its serial goes: a fleet's inverters mostly
        #: share a model and what it offers, and rendering some 80 components for each of them on every
        #: refresh cost a tenth of a refresh cycle's CPU (bench/fleet.py). Only shapes are kept: a
        #: fleet's configs are megabytes.
        self._shapes: dict[tuple[object, ...], str] = {}
        self._announced = False
        #: The GridBOSSes announced, each with the settings its config offered.
        self._gridbosses: dict[str, frozenset[str]] = {}
        #: The parallel groups announced.
        self._groups: set[str] = set()
        #: The battery modules announced, by inverter.
        self._modules: dict[str, set[str]] = {}
        self._migrated = False
        #: The first release's per-entity configs found retained on the broker: only those are migrated,
        #: once (Home Assistant warns about every migration of a config it does not have).
        self.first_release_found: set[str] = set()
        #: Messages handed to the link, for metrics.
        self.messages = 0

    def attach(self, publisher: Publisher, room: Callable[[], Awaitable[None]] | None = None) -> None:
        """`room` returns once the publisher has room for more (the link's outbox is short): the paced
        announcements wait for it after each inverter, so that a fleet's hundred thousand messages are
        never all queued at once."""
        self._publisher = publisher
        if room is not None:
            self._room = room

    def _publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1, always: bool = False) -> None:
        # Before the first announcement only the cache is filled: discovery must come before any state.
        # Command results are the exception (`always`): every command is answered, even at start.
        if self._publisher is not None and (self._announced or always):
            self._publisher.publish(topic, payload, retain=retain, qos=qos)
            self.messages += 1

    def state(self, serial: str, topic_path: str, payload: str, *, force: bool = False) -> None:
        """A retained state, published when it differs from what was said last (or when `force`d)."""
        said = self._said.setdefault(serial, {})
        if force or said.get(topic_path) != payload:
            said[topic_path] = payload
            self._publish(self._topics.state(serial, topic_path), payload, retain=True)

    def state_at(self, topic: str, payload: str, *, force: bool = False) -> None:
        """A retained topic other than a state (availability, attributes), as `state`."""
        if force or self._said_elsewhere.get(topic) != payload:
            self._said_elsewhere[topic] = payload
            self._publish(topic, payload, retain=True)

    def parameter(self, serial: str, setting: Setting, value: str, *, force: bool = False) -> None:
        self.state(serial, setting.topic_path, setting.state(value), force=force)

    def availability(self, serial: str, online: bool) -> None:
        """Said when it changes (the fleet state knows when)."""
        self._publish(self._topics.availability(serial), ONLINE if online else OFFLINE, retain=True)

    def runtime(self, serial: str, runtime: Runtime | None, *, force: bool = False) -> None:
        if runtime is None or not runtime.online:
            return  # offline: keep the last values, availability says they are stale
        self._readings(serial, runtime, SENSORS, force=force)

    def energy(self, serial: str, energy: Energy | None, *, force: bool = False) -> None:
        if energy is not None:
            self._readings(serial, energy, ENERGY_SENSORS, force=force)

    def _readings(
        self, serial: str, source: object, sensors: Iterable[Sensor], *, force: bool, under: str = ""
    ) -> None:
        """Each sensor's value from `source`, published under `under` (a sub-device's path), if any."""
        for sensor in sensors:
            value = getattr(source, sensor.field)
            if value is None:
                continue
            path = f"{under}/{sensor.topic_path}" if under else sensor.topic_path
            if sensor.state_class == "total_increasing" and not self._counts_on(serial, sensor, value, path):
                continue
            self.state(serial, path, format_reading(sensor, value), force=force)

    # -- the event log ----------------------------------------------------------------------------------

    def last_event(self, serial: str, *, force: bool = False) -> None:
        """The newest event: its attributes, then its state (Home Assistant shows them with the state they
        belong to), each when it changed; `none` and no attributes while the log holds no event. Where the
        log is refused, what was said of it is emptied: the sensor is gone from discovery too."""
        state = self._fleet.get(serial)
        if state is None or state.events_offered is None:
            return  # not read yet, or not through the cloud
        attributes = self._topics.last_event_attributes(serial)
        if not state.events_offered:
            if self._said_elsewhere.pop(attributes, None):
                self._publish(attributes, "", retain=True)
            if self._said.get(serial, {}).pop(LAST_EVENT.topic_path, None):
                self._publish(self._topics.state(serial, LAST_EVENT.topic_path), "", retain=True)
            return
        event = state.last_event
        self.state_at(attributes, _json(event_attributes(event)), force=force)
        self.state(serial, LAST_EVENT.topic_path, NO_EVENT if event is None else event.summary, force=force)

    # -- GridBOSS ---------------------------------------------------------------------------------------

    def gridboss(self, serial: str, *, force: bool = False) -> None:
        """A GridBOSS's config (once, and again on every announcement), availability and values."""
        state = self._fleet.gridbosses[serial]
        settings = self._fleet.gridboss_settings_of(serial)
        offered = frozenset(setting.key for setting in settings)
        if (self._gridbosses.get(serial) != offered or force) and self._announced:
            read_only = bool(self._settings.limits_for(serial).read_only)
            config = gridboss_config(
                self._topics, serial, state.model, settings, read_only=read_only, sensors=state.sensors
            )
            self._publish(self._topics.device_discovery(serial), _json(abbreviated(config)), retain=True)
            self._gridbosses[serial] = offered
        online = bool(state.online)
        self.state_at(self._topics.availability(serial), ONLINE if online else OFFLINE, force=force)
        if state.runtime is not None and online:
            given = [s for s in GRIDBOSS_SENSORS if state.sensors is None or s.key in state.sensors]
            self._readings(serial, state.runtime, given, force=force)
        for setting in settings:
            held = state.held.get(setting.key)
            if held is not None:
                self.parameter(serial, setting, held, force=force)

    # -- parallel groups --------------------------------------------------------------------------------

    def groups(self, *, force: bool = False) -> None:
        """Each parallel group's totals, or `offline` while one of its inverters is away or unread."""
        fleet = self._fleet
        for group, members in fleet.groups().items():
            place = self._topics.group(group)
            if (group not in self._groups or force) and self._announced:
                config = _json(abbreviated(group_config(self._topics, group, members)))
                self._publish(self._topics.device_discovery(place), config, retain=True)
                self._groups.add(group)
            totals = fleet.group_totals(members)
            self.state_at(
                self._topics.availability(place), OFFLINE if totals is None else ONLINE, force=force
            )
            if totals is not None:
                self._readings(place, totals, GROUP_SENSORS, force=force)

    # -- battery modules --------------------------------------------------------------------------------

    def batteries(self, serial: str, bank: BatteryBank, *, force: bool = False) -> None:
        """Each module's values and availability. A module that came is announced; one that went (from a
        bank that answered) is removed: its config and every state it had are emptied. An offline bank
        keeps its modules, unavailable."""
        known = self._modules.setdefault(serial, set())
        present = {module.module_id for module in bank.modules}
        if not bank.lost:
            for gone in sorted(known - present):
                self._remove_module(serial, gone)
                known.discard(gone)
        for module in bank.modules:
            if module.module_id not in known or force:
                self._announce_module(serial, module)
                known.add(module.module_id)
            self._say_module(serial, module, online=not module.lost, force=force)
        if bank.lost:
            for module_id in sorted(known - present):
                self.state(serial, f"{self._topics.battery_module(serial, module_id)}/availability", OFFLINE)

    def _announce_module(self, serial: str, module: BatteryModule) -> None:
        device = self._fleet.devices.get(serial)
        if device is None or not self._announced:
            return  # announced with the rest at the first announcement
        config = _json(abbreviated(battery_module_config(self._topics, device, module)))
        self._publish(self._topics.battery_module_discovery(serial, module.module_id), config, retain=True)

    def _say_module(self, serial: str, module: BatteryModule, *, online: bool, force: bool) -> None:
        path = self._topics.battery_module(serial, module.module_id)
        self.state(serial, f"{path}/availability", ONLINE if online else OFFLINE, force=force)
        if online:
            self._readings(serial, module, BATTERY_SENSORS, force=force, under=path)

    def _remove_module(self, serial: str, module_id: str) -> None:
        """Nothing of a module that went stays on the broker: its config (Home Assistant removes the device)
        and every retained state under it are emptied."""
        log.info("battery_module_removed", serial=serial, module=module_id)
        self._publish(self._topics.battery_module_discovery(serial, module_id), "", retain=True)
        prefix = f"{self._topics.battery_module(serial, module_id)}/"
        said, counted = self._said.get(serial, {}), self._counted.get(serial, {})
        for path in [path for path in said if path.startswith(prefix)]:
            del said[path]
            counted.pop(path, None)
            self._publish(self._topics.state(serial, path), "", retain=True)

    def _counts_on(self, serial: str, sensor: Sensor, value: float, path: str) -> bool:
        """Whether an energy counter's reading may be published: never lower than the last one published
        (Home Assistant would take it for a meter reset and count the difference again), except a daily
        counter on a new day. A lower one is held back, logged once and counted."""
        counted = self._counted.setdefault(serial, {})
        today = self._today()
        last = counted.get(path)
        new_day = last is not None and last[1] != today and sensor.key.endswith("_today")
        if last is None or value >= last[0] or new_day:
            counted[path] = (value, today)
            self._held_back.discard((serial, path))
            return True
        self.energy_held_back += 1
        if (serial, path) not in self._held_back:
            self._held_back.add((serial, path))
            log.warning(
                "energy_reading_lower_held_back", serial=serial, sensor=sensor.key, read=value, last=last[0]
            )
        return False

    def beyond_limits(self, serial: str) -> None:
        """Say which settings the inverter holds beyond the owner's limit or the setting's own range: a
        problem sensor (`ON` / `OFF`) and its attributes, when that changes."""
        self._say_beyond(serial, force=False)

    def _say_beyond(self, serial: str, *, force: bool) -> None:
        state = self._fleet.get(serial)
        beyond = None if state is None else state.beyond
        if beyond is None:
            return  # its settings were not checked yet
        # The attributes first: Home Assistant shows them with the state they belong to.
        self.state_at(self._topics.beyond_limit_attributes(serial), _json({"settings": beyond}), force=force)
        self.state(serial, "beyond_limit", "ON" if beyond else "OFF", force=force)

    def result(self, command: Command, result: Result) -> None:
        self._publish(
            self._topics.result_for(command.topic), result_payload(command, result), retain=False, always=True
        )

    def last_command(self, serial: str, command: Command, result: Result) -> None:
        """The inverter's last command, for its diagnostic sensor: one retained message (so Home Assistant
        shows it after a restart) whose `outcome` is the sensor's state and the rest its attributes."""
        attributes = json.loads(result_payload(command, result)) | {"setting": command.topic_path}
        self._publish(
            self._topics.last_command_attributes(serial), _json(attributes), retain=True, always=True
        )

    def bridge_info(self, cloud_host: str) -> None:
        """Retained `<base>/bridge/info`: version, inverters with their settings and limits, the routing
        mode to each; nothing secret (no account, no password)."""
        inverters = [
            {
                "serial": summary.serial,
                "model": summary.model,
                "firmware": summary.firmware,
                "transport": summary.transport,
                "settings": len(summary.settings),
                "read_only": summary.read_only,
                "limits": {row.key: str(row.limit) for row in summary.settings if row.limit is not None},
            }
            for summary in self._fleet.summaries()
        ]
        info = {
            "version": __version__,
            "cloud": cloud_host,
            "exposed": sorted(self._settings.control.exposed),
            "inverters": inverters,
        }
        self._publish(self._topics.bridge_info, _json(info), retain=True)

    def response(self, topic: str, payload: str) -> None:
        """An answer to a request on one of the bridge's own topics; never retained."""
        self._publish(topic, payload, retain=False, always=True)

    def announce(self) -> None:
        """The first announcement, and again after a reconnect or Home Assistant's birth: each inverter's
        discovery, then its availability and every state the fleet state holds, whether or not it changed."""
        for _inverter in self._announce_steps():
            pass

    async def announce_paced(self) -> None:
        """`announce`, waiting for room at the link after each inverter (`attach`'s `room`)."""
        for _inverter in self._announce_steps():
            await self._room()

    def _announce_steps(self) -> Iterator[None]:
        """Announces one inverter at each step: its config, then what it holds."""
        self._announced = True
        fleet = self._fleet
        for _inverter in self._discovery_steps(again=True):
            yield
        for serial in fleet:
            self._say_everything(serial)
            yield
        self.groups(force=True)
        for serial in fleet.gridbosses:
            self.gridboss(serial, force=True)

    def _say_everything(self, serial: str) -> None:
        state = self._fleet[serial]
        if state.online is not None:
            self.availability(serial, state.online)
        for key, value in state.held.items():
            setting = setting_by_key(key)
            if setting is not None:
                self.parameter(serial, setting, value, force=True)
        self._say_beyond(serial, force=True)
        self.runtime(serial, state.runtime, force=True)
        self.energy(serial, state.energy, force=True)
        if state.batteries is not None:
            self.batteries(serial, state.batteries, force=True)
        self.last_event(serial, force=True)

    def discovery(self, *, again: bool = False) -> None:
        """Each inverter's one config. On start, on connect and to a restarted Home Assistant (`again`) at
        QoS 1; after each refresh said again at QoS 0 (a lost repetition is repeated at the next one), or
        at QoS 1 when it changed (the settings the model offers became known). The first announcement
        migrates the first release's per-entity configs."""
        for _inverter in self._discovery_steps(again=again):
            pass

    async def discovery_paced(self) -> None:
        """`discovery` after a refresh, waiting for room at the link after each inverter."""
        for _inverter in self._discovery_steps(again=False):
            await self._room()

    def _discovery_steps(self, *, again: bool) -> Iterator[None]:
        migrate = not self._migrated
        self._migrated = True
        for serial, device in self._fleet.devices.items():
            self._discovery_of(serial, device, again=again, migrate=migrate)
            yield

    def _discovery_of(self, serial: str, device: Device, *, again: bool, migrate: bool) -> None:
        fleet = self._fleet
        settings = fleet.settings_of(serial)
        # Held values beyond the announced bounds widen them: part of what the config depends on.
        beyond = fleet.beyond(serial)
        held = {key: entry["held"] for key, entry in beyond.items()}
        sensors = fleet.sensors_of(serial)
        events = fleet[serial].events_offered is True
        keys = (repr(device), *(setting.key for setting in settings), *sorted(held.items()), sensors, events)
        changed = self._discovery.get(serial) != keys
        self._discovery[serial] = keys
        rendered = self._rendered(device, settings, held, sensors, events, shape=keys[1:])
        if migrate:
            self._migrate(serial, rendered)
        else:
            qos = 1 if again or changed else 0
            self._publish(self._topics.device_discovery(serial), rendered, retain=True, qos=qos)

    def _rendered(
        self,
        device: Device,
        settings: list[Setting],
        held: dict[str, str],
        sensors: frozenset[str] | None,
        events: bool,
        *,
        shape: tuple[object, ...],
    ) -> str:
        """An inverter's config as sent: its shape's, rendered once, with its serial put in."""
        limits = self._settings.limits_for(device.serial)
        blank = replace(device, serial=SERIAL_MARK)
        key = (blank, shape, limits.model_dump_json())
        template = self._shapes.get(key)
        if template is None:
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()  # a fleet of many shapes: rendered again as they come
            config = device_config(
                self._topics, blank, settings, limits, held=held, sensors=sensors, last_event=events
            )[1]
            template = self._shapes[key] = _json(abbreviated(config))
        return template.replace(SERIAL_MARK, _json(device.serial)[1:-1])

    def _migrate(self, serial: str, config: str) -> None:
        """Per-entity configs to one device config without losing entity ids: tell Home Assistant each old
        config is migrating (not retained, so the broker keeps nothing of it), announce the device, then
        empty the old topics."""
        old = [
            topic for topic in first_release_topics(self._topics, serial) if topic in self.first_release_found
        ]
        for topic in old:
            self._publish(topic, _json(MIGRATE), retain=False)
        self._publish(self._topics.device_discovery(serial), config, retain=True)
        for topic in old:
            self._publish(topic, "", retain=True)
        # A retired setting's state is emptied: nothing stale stays on the broker. (Its entity goes with
        # the device config, which names it with its platform alone.)
        for retired in RETIRED:
            self._publish(self._topics.state(serial, retired.topic_path), "", retain=True)


#: The Last Event sensor's state while the log holds no event: never an event made up.
NO_EVENT = "none"


def event_attributes(event: Event | None) -> dict[str, object]:
    """The Last Event sensor's attributes: the event's code, words, kind, start and end (the portal's local
    time, as the cloud gives it: no zone), whether it is ongoing, how long it lasted in hours, its record id;
    none at all while there is no event."""
    if event is None:
        return {}
    return {
        "code": event.code,
        "text": event.text,
        "type": event.type,
        "start": event.start,
        "end": event.end,
        "ongoing": event.ongoing,
        "duration_hours": event.duration_hours,
        "status": event.status,
        "record_id": event.record_id,
    }


def format_reading(sensor: Sensor, value: float | str | bool) -> str:
    """One number format per sensor: whole numbers for amperes, watts and percent, tenths for volts; text as
    it is, and yes/no as `ON` / `OFF`."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, str):
        return value
    if sensor.decimals == 0:
        return str(round(value))
    return f"{value:.{sensor.decimals}f}"


async def _no_wait() -> None:
    """Room, always: a publisher that takes everything at once."""


#: Stands for the serial in a config rendered once for every inverter of its shape (the catalogue's
#: names, topics and templates hold no `<`).
SERIAL_MARK: Final = "<serial>"
#: Config shapes kept at most; a fleet has a few (models times what each offers).
MAX_SHAPES: Final = 64


def _json(config: object) -> str:
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False)


__all__ = ["Announcer", "Publisher", "event_attributes", "format_reading"]
