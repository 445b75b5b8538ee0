"""The link to the MQTT broker: one reconnect loop, an outbox that survives disconnections, inbound dispatch.

It knows topics but nothing of the cloud. On every connect it subscribes, says `online` on the bridge status
topic (the last will says `offline`), and asks its handler to republish what it knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Final, Protocol

import aiomqtt
import structlog
from paho.mqtt.subscribeoptions import SubscribeOptions

from bridge.config import MqttSettings, TlsSettings
from bridge.mqtt.topics import Topics

log = structlog.get_logger(__name__)

ONLINE: Final = "online"
OFFLINE: Final = "offline"
#: Messages published at once, each awaiting its acknowledgement.
SEND_BATCH: Final = 10  # aiomqtt warns above ten pending publishes


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: str
    retain: bool
    qos: int = 1


class MessageHandler(Protocol):
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
    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        handler: MessageHandler,
        *,
        outbox_limit: int = 20_000,
        backoff: Backoff | None = None,
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._handler = handler
        self._outbox: deque[Outgoing] = deque()
        self._outbox_limit = outbox_limit
        self._has_mail = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()
        self._backoff = backoff or Backoff()
        self._client: aiomqtt.Client | None = None
        self._closing = False
        self.connected = asyncio.Event()
        self.connections = 0
        self.dropped = 0

    @property
    def queued(self) -> int:
        """Messages waiting for the broker."""
        return len(self._outbox)

    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> None:
        """Queue a message; it is sent as soon as the broker is reachable, in order."""
        if len(self._outbox) >= self._outbox_limit:
            lost = self._outbox.popleft()
            self.dropped += 1
            log.warning("mqtt_outbox_full_dropped_oldest", topic=lost.topic, dropped=self.dropped)
        self._outbox.append(Outgoing(topic, payload, retain, qos))
        self._outbox_empty.clear()
        self._has_mail.set()

    async def run(self) -> None:
        """Connect, serve and reconnect until cancelled."""
        failures = 0
        while not self._closing:
            error: BaseException | None = None
            try:
                await self._serve_one_connection()
            except* aiomqtt.MqttError as errors:
                error = errors.exceptions[0]
            self.connected.clear()
            self._client = None
            # A cancellation that met a disconnection can be lost in here (asyncio on Python 3.11);
            # run_bridge therefore stops this task by asking again until it ends, and by `close()`.
            failures = failures + 1 if error is not None else 0
            delay = self._backoff.delay(max(failures, 1))
            log.warning(
                "mqtt_disconnected",
                host=self._settings.host,
                port=self._settings.port,
                error=str(error) if error is not None else "the connection ended",
                retry_in=round(delay, 2),
            )
            await asyncio.sleep(delay)

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
            # /set is refused whether it arrives live or replayed from the broker's store.
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=_tls_context(settings.tls) if settings.tls.enabled else None,
            # Without this, Nagle's algorithm holds a publish that follows an acknowledgement until the
            # broker's delayed ACK: about 40 ms per command, measured in bench/latency.py.
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )
        async with client:
            for command_filter in self._topics.command_filters:
                await client.subscribe(
                    command_filter, options=SubscribeOptions(qos=1, retainAsPublished=True)
                )
            await client.subscribe(self._topics.birth, qos=1)
            await client.publish(self._topics.bridge_status, ONLINE, qos=1, retain=True)
            self._client = client
            self.connections += 1
            self.connected.set()
            log.info("mqtt_connected", host=settings.host, port=settings.port, connections=self.connections)
            await self._handler.on_connect()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._send(client), name="mqtt-send")
                group.create_task(self._receive(client), name="mqtt-receive")

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            if not self._outbox:
                self._outbox_empty.set()
                self._has_mail.clear()
                await self._has_mail.wait()
                continue
            batch = [self._outbox[index] for index in range(min(SEND_BATCH, len(self._outbox)))]
            await asyncio.gather(
                *(client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain) for m in batch)
            )
            # Only now are they delivered; a disconnection before this line sends the batch again.
            for _ in batch:
                self._outbox.popleft()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, bytes | bytearray) else str(payload or "").encode()
            await self._handler.on_message(str(message.topic), bytes(raw), bool(message.retain))

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Deliver what is queued and say `offline`, within `grace_seconds`. Then stop reconnecting."""
        self._closing = True
        client = self._client
        if client is None or not self.connected.is_set():
            return
        with contextlib.suppress(TimeoutError, aiomqtt.MqttError):
            async with asyncio.timeout(grace_seconds):
                await self._outbox_empty.wait()
                await client.publish(self._topics.bridge_status, OFFLINE, qos=1, retain=True)
                log.info("mqtt_said_offline")
