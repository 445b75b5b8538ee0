"""The link to the MQTT broker: one reconnect loop, an outbox that survives disconnections, inbound dispatch.

It knows topics but nothing of the transports. On every connect it subscribes, says `online` on the bridge
status topic (the last will says `offline`), and asks its handler to republish what it knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiomqtt
import structlog
from paho.mqtt.subscribeoptions import SubscribeOptions

from bridge.core.config import MqttSettings, TlsSettings
from bridge.core.errors import AnotherBridgeError, BrokerRefusedError
from bridge.mqtt.outbox import Outbox, Outgoing
from bridge.mqtt.topics import OFFLINE, ONLINE, Topics, topic_is_publishable

log = structlog.get_logger(__name__)

__all__ = ["OFFLINE", "ONLINE", "Backoff", "MessageHandler", "MqttLink", "Outgoing"]

#: How long a probe for retained messages waits for the broker to send them.
PROBE_SECONDS: Final = 0.5
#: Messages waiting for the broker beyond which the bridge says it is backlogged.
BACKLOG_WARNING: Final = 1_000
#: Messages published at once, each awaiting its acknowledgement.
SEND_BATCH: Final = 10  # aiomqtt warns above ten pending publishes
#: Messages an announcement leaves waiting before it says the next inverter (`room`): a few inverters'
#: worth, so the broker never waits on the bridge and the bridge never holds a whole fleet's messages.
ANNOUNCE_ROOM: Final = 500
#: How often `room` looks again whether the broker is still connected while it waits.
ROOM_RECHECK_SECONDS: Final = 1.0
#: How long to wait for a retained `online` of another bridge after subscribing, and for its answer.
RETAINED_WAIT_SECONDS: Final = 0.25
PRESENCE_ANSWER_SECONDS: Final = 3.0
#: CONNACK reason codes that mean "your credentials are refused" (MQTT 5: bad user name or password, not
#: authorised; MQTT 3.1.1: 4 and 5).
REFUSED_CREDENTIALS: Final = frozenset({134, 135, 4, 5})
#: CONNACK reason codes for "this protocol version is not spoken here" (MQTT 5: 132; 3.1.1: 1).
UNSUPPORTED_PROTOCOL: Final = frozenset({132, 1})


#: The reason code of a broker's DISCONNECT when another client connected with the same client id (MQTT 5).
SESSION_TAKEN_OVER: Final = 142


class _TakeoverWatch(logging.Handler):
    """Reads what the MQTT client library logs about each connection, for the one fact it tells no other
    way: the broker disconnected us because another client took our client id. Warnings and worse go on to
    the library's usual logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.taken_over = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == DISCONNECT_LINE and isinstance(record.args, tuple) and record.args:
            if getattr(record.args[0], "value", None) == SESSION_TAKEN_OVER:
                self.taken_over = True
        elif str(record.msg).startswith("Unexpected message ID"):
            # The broker's answer to a subscription or publish this bridge cancelled (stopping mid-way):
            # nothing was lost, and nothing to tell.
            return
        elif record.levelno >= logging.WARNING:
            logging.getLogger("mqtt").handle(record)


#: The client library's debug line for a DISCONNECT from the broker: the one debug line the link reads.
DISCONNECT_LINE: Final = "Received DISCONNECT %s %s"


class _ClientLog(logging.Logger):
    """The client library's logger for one link. The library logs every packet at debug level; of those
    lines only the broker's DISCONNECT is read, so the rest are dropped before a record is made (a record
    per packet cost a command about a tenth of its CPU)."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level >= logging.WARNING or msg == DISCONNECT_LINE:
            super().log(level, msg, *args, **kwargs)


class MessageHandler(Protocol):
    """What the link tells of the broker: connections and the messages that arrive."""

    async def on_connect(self) -> None:
        """Called after every (re)connect, once subscribed and `online` is published."""

    async def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        """Called for every message received on a subscribed topic."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped, jittered exponential backoff between connection attempts."""

    first: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        ceiling = min(self.cap, self.first * 2 ** max(0, failures - 1))
        return random.uniform(ceiling / 2, ceiling)


def _tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """Verify the broker's certificate and host name, against `ca_file` or the system's CAs."""
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None and tls.key_file is not None:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    return context


class MqttLink:
    """The bridge's one connection to the broker, kept up for as long as the bridge runs."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        handler: MessageHandler,
        *,
        outbox_limit: int = 20_000,
        backoff: Backoff | None = None,
        clear_retained_on_close: bool = False,
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._handler = handler
        self._outbox = Outbox(outbox_limit)
        self._has_mail = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()
        #: Set each time the broker took a batch: `room` waits for it.
        self._took_some = asyncio.Event()
        self._backoff = backoff or Backoff()
        self._client: aiomqtt.Client | None = None
        self._closing = False
        self._said_offline = False
        #: The demo's way of leaving no trace: every retained topic it published is emptied on close.
        self._clear_retained_on_close = clear_retained_on_close
        self._retained_topics: set[str] = set()
        self._backlog_said = False
        #: Topics being probed for a retained message (`retained_among`), and those found so far.
        self._probes: list[tuple[frozenset[str], set[str]]] = []
        self._instance = uuid.uuid4().hex
        self._takeover = _TakeoverWatch()
        self._client_log = _ClientLog(f"eg4-bridge.mqtt.{self._instance[:8]}", logging.DEBUG)
        self._client_log.addHandler(self._takeover)
        self._client_log.propagate = False
        #: The protocol to speak: MQTT 5 unless the config says 3.1.1, or `auto` found the broker has only
        #: 3.1.1 (then kept for every reconnection).
        self.protocol = (
            aiomqtt.ProtocolVersion.V311 if settings.protocol == "3.1.1" else aiomqtt.ProtocolVersion.V5
        )
        self.connected = asyncio.Event()
        self.connections = 0
        #: When the last connection ended (monotonic), or `None` while connected or before the first.
        self.disconnected_at: float | None = None
        #: Why the last connection ended or failed, until the next one is made: for the status page.
        self.last_error: str | None = None
        #: Messages that could never be published (a topic over MQTT's limit, say), dropped and logged.
        self.unpublishable = 0

    @property
    def queued(self) -> int:
        """Messages waiting for the broker."""
        return len(self._outbox)

    @property
    def dropped(self) -> int:
        """Messages dropped: unretained ones beyond the outbox limit, and unpublishable ones."""
        return self._outbox.dropped + self.unpublishable

    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None:
        """Queue a message; it is sent as soon as the broker is reachable, in order. A message that no
        broker could take is dropped here, logged and counted: it must never stop the link."""
        if not topic_is_publishable(topic):
            self._count_unpublishable(topic, "the topic is empty, holds a wildcard or exceeds 65,535 bytes")
            return
        if retain and payload and self._clear_retained_on_close:  # the demo's bookkeeping, the demo's alone
            self._retained_topics.add(topic)
        lost = self._outbox.put(Outgoing(topic, payload, retain, qos))
        if lost is not None:
            log.warning("mqtt_outbox_full_dropped_oldest", topic=lost.topic, dropped=self._outbox.dropped)
        self._watch_backlog()
        self._outbox_empty.clear()
        self._has_mail.set()

    def _watch_backlog(self) -> None:
        """Said once each time the outbox grows past `BACKLOG_WARNING`: the bridge is producing faster than
        the broker takes, as in a storm of commands, when a broker with small per-client queues drops what
        its subscribers cannot take in time."""
        queued = len(self._outbox)
        if queued >= BACKLOG_WARNING and not self._backlog_said:
            self._backlog_said = True
            log.warning(
                "mqtt_backlog",
                queued=queued,
                advice="messages wait for the broker; a broker with a small queue per client (mosquitto's "
                "max_queued_messages, 1,000 by default) drops what a slow subscriber cannot take: commands "
                "and results can be lost there (README, Bursts)",
            )
        elif queued < BACKLOG_WARNING // 2:
            self._backlog_said = False

    def _count_unpublishable(self, topic: str, reason: str) -> None:
        self.unpublishable += 1
        log.error("mqtt_message_dropped", topic=topic[:120], topic_bytes=len(topic.encode()), reason=reason)

    async def run(self) -> None:
        """Connect, serve and reconnect until cancelled. Refused credentials before the first connection
        raise `BrokerRefusedError`; another bridge on the same base topic, `AnotherBridgeError`."""
        failures = 0
        while not self._closing:
            error: BaseException | None = None
            try:
                await self._serve_one_connection()
            except* aiomqtt.MqttError as errors:
                error = errors.exceptions[0]
                self._raise_if_refused_at_start(error)
            if error is not None and self._fall_back_to_3_1_1(error):
                continue
            self._raise_if_taken_over()
            if self.connected.is_set():
                self.disconnected_at = time.monotonic()
            self.connected.clear()
            self._client = None
            # A cancellation that met a disconnection can be lost in here (asyncio on Python 3.11);
            # run_bridge therefore stops this task by asking again until it ends, and by `close()`.
            failures = failures + 1 if error is not None else 0
            self.last_error = str(error) if error is not None else "the connection ended"
            delay = self._backoff.delay(max(failures, 1))
            log.warning(
                "mqtt_disconnected",
                host=self._settings.host,
                port=self._settings.port,
                error=str(error) if error is not None else "the connection ended",
                retry_in=round(delay, 2),
            )
            await asyncio.sleep(delay)

    def _raise_if_taken_over(self) -> None:
        """Another client connected with this bridge's fixed client id: two bridges would knock each other
        off the broker for ever. This one, the older, leaves, saying why."""
        if not self._takeover.taken_over:
            return
        self._said_offline = True  # the other bridge's `online` stands
        raise AnotherBridgeError(
            f"another MQTT client connected to the broker at {self._settings.host}:{self._settings.port} "
            f"with this bridge's client id {self._settings.client_id!r}, and the broker disconnected this "
            "one (session taken over): two bridges with one mqtt.client_id knock each other off the broker; "
            "stop the other, or give each its own mqtt.client_id (or leave it unset)"
        )

    def _fall_back_to_3_1_1(self, error: BaseException) -> bool:
        """`auto`: a broker that refused MQTT 5 (or never answered its CONNECT, as RabbitMQ 3 does) before
        any connection is asked again at once in 3.1.1, and kept at it."""
        if (
            self._settings.protocol != "auto"
            or self.protocol is aiomqtt.ProtocolVersion.V311
            or self.connections > 0
        ):
            return False
        code = getattr(error, "rc", None)
        value = getattr(code, "value", code)
        refused_version = isinstance(error, aiomqtt.MqttCodeError) and value in UNSUPPORTED_PROTOCOL
        unanswered = "timed out" in str(error).lower()
        if not (refused_version or unanswered):
            return False
        log.info("mqtt_protocol_3_1_1", host=self._settings.host, port=self._settings.port, reason=str(error))
        self.protocol = aiomqtt.ProtocolVersion.V311
        return True

    def _raise_if_refused_at_start(self, error: BaseException) -> None:
        code = getattr(error, "rc", None)
        value = getattr(code, "value", code)
        if self.connections == 0 and value in REFUSED_CREDENTIALS:
            raise BrokerRefusedError(
                f"the MQTT broker at {self._settings.host}:{self._settings.port} refused the bridge's "
                f"credentials ({error}); check mqtt.username and mqtt.password"
            )

    async def _serve_one_connection(self) -> None:
        settings = self._settings
        client = aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            identifier=settings.client_id or f"eg4-bridge-{uuid.uuid4().hex[:8]}",
            keepalive=settings.keepalive,
            will=aiomqtt.Will(self._topics.bridge_status, OFFLINE, qos=1, retain=True),
            timeout=10,
            # MQTT 5, so that the retain flag of a command reaches us as it was published: a retained
            # /set is refused whether it arrives live or replayed from the broker's store. In 3.1.1 only
            # a stored one replayed at subscription arrives flagged (README, "Brokers").
            protocol=self.protocol,
            tls_context=_tls_context(settings.tls) if settings.tls.enabled else None,
            logger=self._client_log,
            # Without this, Nagle's algorithm holds a publish that follows an acknowledgement until the
            # broker's delayed ACK: about 40 ms per command, measured in bench/latency.py.
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )
        async with client:
            if self.connections == 0:
                await self._refuse_if_another_bridge(client)
            else:
                await self._leave_if_taken_over(client)
            await client.publish(self._topics.holder, self._instance, qos=1, retain=True)
            self._retained_topics.add(self._topics.holder)
            try:
                await self._serve(client)
            except BaseException as exc:
                if not _only_connection_errors(exc):
                    # Dying with a clean DISCONNECT would keep the will from firing, leaving `online`.
                    await self._say_offline(client, grace_seconds=2.0)
                raise

    async def _serve(self, client: aiomqtt.Client) -> None:
        settings = self._settings
        for command_filter in self._topics.command_filters:
            if self.protocol is aiomqtt.ProtocolVersion.V5:
                await client.subscribe(
                    command_filter, options=SubscribeOptions(qos=1, retainAsPublished=True)
                )
            else:
                await client.subscribe(command_filter, qos=1)
        await client.subscribe(self._topics.birth, qos=1)
        await client.subscribe(self._topics.presence_request, qos=1)
        await client.subscribe(self._topics.refresh_request, qos=1)
        await client.publish(self._topics.bridge_status, ONLINE, qos=1, retain=True)
        self._client = client
        self.connections += 1
        self.disconnected_at = None
        self.last_error = None
        self.connected.set()
        log.info("mqtt_connected", host=settings.host, port=settings.port, connections=self.connections)
        await self._handler.on_connect()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._send(client), name="mqtt-send")
            group.create_task(self._receive(client), name="mqtt-receive")

    async def _leave_if_taken_over(self, client: aiomqtt.Client) -> None:
        """On a reconnection: if another bridge took the base topic while this one was away (started then,
        or connected with the same client id and so knocked this one off), this one leaves without saying
        anything; otherwise the two would knock each other off the broker for ever."""
        topics = self._topics
        await client.subscribe(topics.holder, qos=1)
        holder = await _first_payload(client, topics.holder, RETAINED_WAIT_SECONDS)
        await client.unsubscribe(topics.holder)
        if holder is None or holder in (b"", self._instance.encode()):
            return
        self._said_offline = True  # the other bridge's `online` stands
        fixed = self._settings.client_id
        same_id = (
            f" with this bridge's client id {fixed!r} (two bridges with one mqtt.client_id knock each "
            "other off the broker: give each its own, or leave it unset)"
            if fixed
            else ""
        )
        raise AnotherBridgeError(
            f"another bridge took the base topic {topics.base!r} of the broker at {self._settings.host}:"
            f"{self._settings.port}{same_id} while this one was disconnected; this one stops"
        )

    async def _refuse_if_another_bridge(self, client: aiomqtt.Client) -> None:
        """Before saying `online`: if the base topic's status is a retained `online`, ask whether its bridge
        is alive. One that answers keeps the base topic, and this one leaves without a trace (a clean
        disconnect sends no will). No answer: a stale status, left by a bridge that is gone."""
        topics = self._topics
        await client.subscribe(topics.bridge_status, qos=1)
        status = await _first_payload(client, topics.bridge_status, RETAINED_WAIT_SECONDS)
        await client.unsubscribe(topics.bridge_status)
        if status != ONLINE.encode():
            return
        await client.subscribe(topics.presence_answer, qos=1)
        question = uuid.uuid4().hex
        await client.publish(topics.presence_request, question, qos=1)
        # Only a live answer counts: a retained one (left by anyone) says nothing about a bridge alive now.
        answer = await _first_payload(client, topics.presence_answer, PRESENCE_ANSWER_SECONDS, live=True)
        await client.unsubscribe(topics.presence_answer)
        if answer is not None:
            raise AnotherBridgeError(
                f"another bridge is running on the base topic {topics.base!r} of the broker at "
                f"{self._settings.host}:{self._settings.port}; stop it, or give this one another "
                "mqtt.base_topic"
            )
        log.warning("stale_online_status_taken_over", topic=topics.bridge_status)

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            if not self._outbox:
                self._outbox_empty.set()
                self._has_mail.clear()
                await self._has_mail.wait()
                continue
            batch = self._outbox.oldest(SEND_BATCH)
            await asyncio.gather(*(self._publish_one(client, message) for _key, message in batch))
            # Only now are they delivered; a disconnection before this line sends the batch again.
            self._outbox.sent(batch)
            self._took_some.set()

    async def _publish_one(self, client: aiomqtt.Client, message: Outgoing) -> None:
        try:
            await client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
        except (ValueError, TypeError) as exc:  # paho refuses it outright: no broker would take it
            self._count_unpublishable(message.topic, str(exc)[:200])

    async def retained_among(self, topics: Sequence[str], within: float = PROBE_SECONDS) -> set[str]:
        """Which of `topics` hold a retained message on the broker now (waiting `within` seconds for the
        broker to send them); none when the broker is not reachable by then."""
        if not topics:
            return set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self.connected.wait()
        client = self._client
        if client is None or not self.connected.is_set():
            return set()
        found: set[str] = set()
        self._probes.append((frozenset(topics), found))
        try:
            await client.subscribe([(topic, 1) for topic in topics])
            await asyncio.sleep(within)
            await client.unsubscribe(list(topics))
        except aiomqtt.MqttError:
            return set()
        finally:
            self._probes.remove((frozenset(topics), found))
        return found

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, bytes | bytearray) else str(payload or "").encode()
            topic = str(message.topic)
            if self._probes and message.retain and raw:
                for wanted, found in self._probes:
                    if topic in wanted:
                        found.add(topic)
            if topic == self._topics.presence_request:
                # Another bridge starting on this base topic asks whether this one is alive.
                self.publish(self._topics.presence_answer, self._instance, retain=False)
                continue
            await self._handler.on_message(topic, bytes(raw), bool(message.retain))

    async def _say_offline(self, client: aiomqtt.Client, grace_seconds: float) -> None:
        if self._said_offline:
            return
        with contextlib.suppress(TimeoutError, aiomqtt.MqttError):
            async with asyncio.timeout(grace_seconds):
                if self._clear_retained_on_close:
                    for topic in sorted(self._retained_topics | {self._topics.bridge_status}):
                        await client.publish(topic, b"", qos=1, retain=True)
                    log.info("mqtt_retained_messages_removed", count=len(self._retained_topics) + 1)
                else:
                    await client.publish(self._topics.bridge_status, OFFLINE, qos=1, retain=True)
                    log.info("mqtt_said_offline")
                self._said_offline = True

    async def room(self, below: int = ANNOUNCE_ROOM) -> None:
        """Return once fewer than `below` messages wait, so that an announcement goes out in bounded
        batches: a thousand inverters are a hundred thousand messages and 23 MB of discovery, which queued
        at once made the bridge's largest peak of memory. At once while the broker is not connected: the
        outbox keeps what is said until it is back, as it always did."""
        while self.connected.is_set() and len(self._outbox) >= below:
            self._took_some.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ROOM_RECHECK_SECONDS):
                    await self._took_some.wait()

    async def drained(self) -> None:
        """Return once everything queued has been handed to the broker."""
        await self._outbox_empty.wait()

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Deliver what is queued and say `offline`, within `grace_seconds`. Then stop reconnecting."""
        self._closing = True
        client = self._client
        if client is None or not self.connected.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_seconds / 2):
                await self._outbox_empty.wait()
        await self._say_offline(client, grace_seconds / 2)


def _only_connection_errors(error: BaseException) -> bool:
    """Whether `error` is (a group of nothing but) lost-connection errors: then the will speaks for us."""
    if isinstance(error, BaseExceptionGroup):
        return all(_only_connection_errors(inner) for inner in error.exceptions)
    return isinstance(error, aiomqtt.MqttError)


async def _first_payload(
    client: aiomqtt.Client, topic: str, within: float, *, live: bool = False
) -> bytes | None:
    """The payload of the first message on `topic` to arrive within `within` seconds (with `live`, the
    first not replayed from the broker's retained store), or `None`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            async for message in client.messages:
                if str(message.topic) == topic and not (live and message.retain):
                    payload = message.payload
                    return payload if isinstance(payload, bytes) else str(payload or "").encode()
    return None
