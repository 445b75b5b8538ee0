"""The MQTT topic layout, in one place (base topic and discovery prefix configurable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ONLINE: Final = "online"
OFFLINE: Final = "offline"
#: How many levels below the base topic a `/set` may stand and still be answered (`eg4/<sn>/a/b/set` is 3).
COMMAND_DEPTH: Final = 8
#: MQTT's limit on a topic name: its UTF-8 length is a two-byte field.
MAX_TOPIC_BYTES: Final = 65_535


def topic_is_publishable(topic: str) -> bool:
    """Whether a message can be published to `topic` at all: not empty, no wildcard or NUL, short enough."""
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return 0 < size <= MAX_TOPIC_BYTES and not any(char in topic for char in "+#\0")


@dataclass(frozen=True, slots=True)
class CommandTopic:
    """What a `/set` topic names: an inverter serial and a parameter's topic path."""

    serial: str
    topic_path: str


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic of the bridge, from its base topic and Home Assistant's discovery prefix."""

    base: str = "eg4"
    discovery_prefix: str = "homeassistant"
    #: Starts every Home Assistant device and entity id (`eg4_<serial>`); the demo has its own.
    device_prefix: str = "eg4"

    @property
    def bridge_status(self) -> str:
        return f"{self.base}/bridge/status"

    @property
    def presence_request(self) -> str:
        """Where a bridge that is starting asks whether one already serves this base topic."""
        return f"{self.base}/bridge/presence/request"

    @property
    def presence_answer(self) -> str:
        return f"{self.base}/bridge/presence/answer"

    @property
    def holder(self) -> str:
        """Retained: the instance of the bridge that last took the base topic (an opaque id)."""
        return f"{self.base}/bridge/holder"

    @property
    def refresh_request(self) -> str:
        """Where anyone may ask for every inverter to be read now; answered on `refresh_response`."""
        return f"{self.base}/bridge/request/refresh"

    @property
    def refresh_response(self) -> str:
        return f"{self.base}/bridge/response/refresh"

    def node_id(self, serial: str) -> str:
        """An inverter's id in Home Assistant: its device identifier and the start of its unique ids."""
        return f"{self.device_prefix}_{serial}"

    @property
    def birth(self) -> str:
        """Where Home Assistant says `online` when it starts: discovery must then be sent again."""
        return f"{self.discovery_prefix}/status"

    @property
    def command_filters(self) -> tuple[str, ...]:
        """Every `/set` topic from one to `COMMAND_DEPTH` levels below the base, so that each gets an
        answer, even a mistyped one; nothing else (the bridge's own states and results never end in
        `/set`)."""
        return tuple(f"{self.base}/{'+/' * depth}set" for depth in range(1, COMMAND_DEPTH + 1))

    @property
    def bridge_info(self) -> str:
        """Retained: what the bridge is and serves (version, inverters, limits), never a secret."""
        return f"{self.base}/bridge/info"

    def last_command_attributes(self, serial: str) -> str:
        """Retained: the whole result of the inverter's last command, as the sensor's attributes."""
        return f"{self.base}/{serial}/last_command/attributes"

    def last_event_attributes(self, serial: str) -> str:
        """Retained: the inverter's newest event (code, type, start, end, whether ongoing), as the Last
        Event sensor's attributes."""
        return f"{self.base}/{serial}/inverter/last_event/attributes"

    def beyond_limit(self, serial: str) -> str:
        """`ON` while the inverter holds a setting beyond the owner's limit (or the setting's own range)."""
        return f"{self.base}/{serial}/beyond_limit/state"

    def beyond_limit_attributes(self, serial: str) -> str:
        """Which settings, as held, against which limit."""
        return f"{self.base}/{serial}/beyond_limit/attributes"

    def availability(self, serial: str) -> str:
        return f"{self.base}/{serial}/availability"

    def state(self, serial: str, topic_path: str) -> str:
        return f"{self.base}/{serial}/{topic_path}/state"

    def command(self, serial: str, topic_path: str) -> str:
        return f"{self.base}/{serial}/{topic_path}/set"

    def result(self, serial: str, topic_path: str) -> str:
        return f"{self.base}/{serial}/{topic_path}/result"

    def device_discovery(self, serial: str) -> str:
        """The one retained config that announces an inverter and every entity of it to Home Assistant."""
        return f"{self.discovery_prefix}/device/{self.node_id(serial)}/config"

    def group(self, group: str) -> str:
        """A parallel group's place among the serials: `parallel_<plant id>_<name>`."""
        return f"parallel_{group}"

    def battery_module(self, serial: str, module_id: str) -> str:
        """The topic path of one battery module's values under its inverter (`battery_module/01`)."""
        return f"battery_module/{module_id}"

    def battery_module_discovery(self, serial: str, module_id: str) -> str:
        """One battery module's device config: a device of its own, under its inverter."""
        return f"{self.discovery_prefix}/device/{self.node_id(serial)}_battery_{module_id}/config"

    def discovery(self, component: str, serial: str, key: str) -> str:
        """A per-entity config topic, as the first release used them (now only migrated away from)."""
        return f"{self.discovery_prefix}/{component}/{self.node_id(serial)}/{key}/config"

    def parse_command(self, topic: str) -> CommandTopic | None:
        """The serial and topic path a `/set` topic under the base topic names (either may be nonsense,
        to be refused by name), or `None` for any other topic."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return None
        serial, _, topic_path = topic[len(prefix) : -len("/set")].partition("/")
        return CommandTopic(serial=serial, topic_path=topic_path)

    @staticmethod
    def result_for(command_topic: str) -> str:
        """A command's result topic: its `/set` topic with `/result` in place of `/set`."""
        return command_topic.removesuffix("/set") + "/result"
