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
    def command_filters(self) -> tuple[str, ...]:
        """Every `/set` under the base topic, at any depth, so that each gets an answer; none of them
        matches a topic the bridge publishes itself (those never end in `/set` and are at most four deep)."""
        return (
            f"{self.base}/+/set",
            f"{self.base}/+/+/set",
            f"{self.base}/+/+/+/set",
            f"{self.base}/+/+/+/+/+/#",
        )

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
