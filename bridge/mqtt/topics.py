"""The MQTT topic layout, in one place (base topic and discovery prefix configurable)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandTopic:
    """What a `/set` topic names: an inverter serial and a parameter's topic path."""

    serial: str
    topic_path: str


@dataclass(frozen=True, slots=True)
class Topics:
    base: str = "eg4"
    discovery_prefix: str = "homeassistant"

    @property
    def bridge_status(self) -> str:
        return f"{self.base}/bridge/status"

    @property
    def birth(self) -> str:
        """Where Home Assistant says `online` when it starts: discovery must then be sent again."""
        return f"{self.discovery_prefix}/status"

    @property
    def command_filter(self) -> str:
        """Every `/set` of the `<serial>/<group>/<name>/set` shape; other shapes cannot name a parameter."""
        return f"{self.base}/+/+/+/set"

    def availability(self, serial: str) -> str:
        return f"{self.base}/{serial}/availability"

    def state(self, serial: str, topic_path: str) -> str:
        return f"{self.base}/{serial}/{topic_path}/state"

    def command(self, serial: str, topic_path: str) -> str:
        return f"{self.base}/{serial}/{topic_path}/set"

    def result(self, serial: str, topic_path: str) -> str:
        return f"{self.base}/{serial}/{topic_path}/result"

    def discovery(self, component: str, serial: str, key: str) -> str:
        return f"{self.discovery_prefix}/{component}/eg4_{serial}/{key}/config"

    def parse_command(self, topic: str) -> CommandTopic | None:
        """The serial and topic path of a `/set` topic under the base topic, or `None`."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return None
        parts = topic[len(prefix) : -len("/set")].split("/")
        if len(parts) < 2 or not all(parts):
            return None
        return CommandTopic(serial=parts[0], topic_path="/".join(parts[1:]))
