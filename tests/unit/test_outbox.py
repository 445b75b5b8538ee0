"""The outbox: nothing retained is ever lost, results are bounded and their drops counted (no broker)."""

from __future__ import annotations

import pytest

from bridge.core.catalogue import SETTINGS
from bridge.core.config import MqttSettings
from bridge.core.devices import Device
from bridge.mqtt.discovery import device_config, first_release_topics
from bridge.mqtt.link import MqttLink
from bridge.mqtt.outbox import Outbox, Outgoing
from bridge.mqtt.topics import MAX_TOPIC_BYTES, Topics, topic_is_publishable

pytestmark = pytest.mark.unit

FLEET = 1_000
#: Per inverter, what a reconnect or Home Assistant's birth queues: discovery, states, availability.
STATES = ("battery/charge_current", "battery/discharge_current", "battery/soc", "battery/voltage", "pv/power")


def fleet_messages(topics: Topics) -> list[Outgoing]:
    """Everything the bridge says again for a thousand inverters, twice over (a birth during a reconnect)."""
    messages = []
    for index in range(FLEET):
        serial = f"{4512345600 + index:010d}"
        inverter = Device(serial, "18KPV")
        topic, config = device_config(topics, inverter, SETTINGS)
        messages.append(Outgoing(topic, str(config), retain=True))
        # A first start after the first release: its per-entity configs emptied.
        messages += [Outgoing(old, "", retain=True) for old in first_release_topics(topics, serial)]
        messages.append(Outgoing(topics.availability(serial), "online", retain=True))
        messages += [Outgoing(topics.state(serial, path), "25", retain=True) for path in STATES]
    return messages + messages


def test_a_thousand_inverters_lose_no_retained_message_under_the_default_limit() -> None:
    """Over 40,000 retained messages queued against a limit of 20,000: every topic's latest is kept."""
    topics = Topics()
    outbox = Outbox()  # the default limit
    messages = fleet_messages(topics)
    assert len(messages) > 20_000
    for message in messages:
        assert outbox.put(message) is None
    assert outbox.dropped == 0
    topics_queued = {message.topic for message in messages}
    assert len(outbox) == len(topics_queued)
    sent = []
    while len(outbox):
        batch = outbox.oldest(10)
        sent += [message.topic for _key, message in batch]
        outbox.sent(batch)
    assert sorted(sent) == sorted(topics_queued)


def test_a_retained_message_replaced_while_in_flight_is_sent_again() -> None:
    outbox = Outbox()
    outbox.put(Outgoing("eg4/1/availability", "online", retain=True))
    batch = outbox.oldest(10)
    outbox.put(Outgoing("eg4/1/availability", "offline", retain=True))  # while the first is being sent
    outbox.sent(batch)
    assert [message.payload for _key, message in outbox.oldest(10)] == ["offline"]


def test_a_repetition_keeps_the_stronger_guarantee() -> None:
    outbox = Outbox()
    outbox.put(Outgoing("ha/number/x/config", "{}", retain=True, qos=1))
    outbox.put(Outgoing("ha/number/x/config", "{}", retain=True, qos=0))
    assert [message.qos for _key, message in outbox.oldest(1)] == [1]


def test_results_are_bounded_and_every_drop_is_counted_even_one_being_sent() -> None:
    outbox = Outbox(limit=3)
    results = [Outgoing(f"eg4/1/battery/charge_current/result#{n}", str(n), retain=False) for n in range(5)]
    outbox.put(Outgoing("eg4/1/availability", "online", retain=True))
    for result in results[:3]:
        assert outbox.put(result) is None
    in_flight = outbox.oldest(10)
    dropped = [outbox.put(result) for result in results[3:]]
    assert dropped == results[:2]
    assert outbox.dropped == 2
    outbox.sent(in_flight)
    assert [message.payload for _key, message in outbox.oldest(10)] == ["3", "4"]
    assert len(outbox) == 2


def test_messages_leave_in_the_order_they_were_last_published() -> None:
    """A retained message replaced moves to the back: discovery said again before states said again
    leaves before them, whatever was waiting."""
    outbox = Outbox()
    for message in (
        Outgoing("state", "1", retain=True),
        Outgoing("r/1", "a", retain=False),
        Outgoing("config", "{}", retain=True),
        Outgoing("config", "{}", retain=True),
        Outgoing("state", "2", retain=True),
    ):
        outbox.put(message)
    waiting = [(m.topic, m.payload) for _key, m in outbox.oldest(10)]
    assert waiting == [("r/1", "a"), ("config", "{}"), ("state", "2")]


def test_which_topics_can_be_published() -> None:
    assert topic_is_publishable("eg4/4512345600/battery/charge_current/result")
    assert topic_is_publishable("é" * (MAX_TOPIC_BYTES // 2))
    assert not topic_is_publishable("é" * (MAX_TOPIC_BYTES // 2 + 1))  # two bytes each in UTF-8
    assert not topic_is_publishable("x" * (MAX_TOPIC_BYTES + 1))
    assert not topic_is_publishable("")
    assert not topic_is_publishable("eg4/+/state")
    assert not topic_is_publishable("eg4/#")
    assert not topic_is_publishable("eg4/\0/state")
    assert not topic_is_publishable("eg4/\ud800")  # a lone surrogate cannot be UTF-8


class _NoHandler:
    async def on_connect(self) -> None:
        return None

    async def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        return None


def test_the_link_drops_counts_and_logs_a_message_no_broker_could_take() -> None:
    """Never connected, never raising: an unpublishable message is refused at the door and counted."""
    link = MqttLink(MqttSettings(), Topics(), _NoHandler())
    link.publish("eg4/" + "x" * MAX_TOPIC_BYTES, "1", retain=False)
    link.publish("eg4/+/state", "1", retain=True)
    link.publish("eg4/bridge/status", "online", retain=True)
    assert (link.unpublishable, link.dropped, link.queued) == (2, 2, 1)


def test_the_watchdog_is_fed_only_while_the_loop_turns_and_the_broker_was_reachable_lately() -> None:
    """Wrong broker credentials later, or a broker gone for good: systemd must see a failed service."""
    from bridge.service.daemon import BROKER_DOWN_LIMIT_SECONDS, watchdog_withheld_because

    stall = 180.0
    assert watchdog_withheld_because(1000.0, 990.0, stall, None) is None
    assert watchdog_withheld_because(1000.0, 990.0, stall, 1000.0 - BROKER_DOWN_LIMIT_SECONDS + 1) is None
    assert (
        watchdog_withheld_because(1000.0, 990.0, stall, 1000.0 - BROKER_DOWN_LIMIT_SECONDS - 1)
        == "broker_unreachable_watchdog_withheld"
    )
    assert (
        watchdog_withheld_because(1000.0, 1000.0 - stall, stall, None)
        == "refresh_loop_stalled_watchdog_withheld"
    )


def test_a_backlog_for_the_broker_is_said_once_until_it_drains() -> None:
    """A storm of commands on a broker with small queues loses messages there: the bridge says so when its
    own outbox backs up, once, and again only after it drained."""
    from structlog.testing import capture_logs

    from bridge.core.config import MqttSettings
    from bridge.mqtt.link import BACKLOG_WARNING, MqttLink
    from bridge.mqtt.topics import Topics

    class Nobody:
        async def on_connect(self) -> None: ...

        async def on_message(self, topic: str, payload: bytes, retained: bool) -> None: ...

    link = MqttLink(MqttSettings(), Topics(), Nobody(), outbox_limit=100_000)
    with capture_logs() as logs:
        for number in range(BACKLOG_WARNING * 2):
            link.publish(f"eg4/result/{number}", "x", retain=False)
    said = [entry for entry in logs if entry["event"] == "mqtt_backlog"]
    assert len(said) == 1
    assert said[0]["queued"] == BACKLOG_WARNING
    assert "max_queued_messages" in said[0]["advice"]
