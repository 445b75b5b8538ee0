"""Helpers for end-to-end tests: a mosquitto of the test run's own, an MQTT observer on it, and the bridge
running in-process or as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from bridge.core.config import Settings
from bridge.mqtt.topics import Topics
from bridge.service.config_file import settings_from_mapping
from bridge.simulator import RunningSimulator
from bridge.transports.cloud import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Broker:
    """A mosquitto of this test run's own, on a free port; it can be stopped and started again."""

    def __init__(self, workdir: Path, extra: str = "allow_anonymous true\n") -> None:
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        # As root, mosquitto would switch to its own user, who cannot read this test run's files.
        keep_user = "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(f"listener {self.port} 127.0.0.1\npersistence false\n{keep_user}{extra}")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [executable, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@dataclass(frozen=True, slots=True)
class Seen:
    topic: str
    payload: str
    retain: bool
    qos: int

    def json(self) -> Any:
        """The payload parsed; a discovery config with its abbreviations expanded, as Home Assistant reads
        it (by Home Assistant's table, tests/fixtures/home_assistant_abbreviations.json, not the bridge's)."""
        parsed = json.loads(self.payload)
        if self.topic.endswith("/config") and isinstance(parsed, dict):
            return expanded_discovery(parsed)
        return parsed


_HOME_ASSISTANT: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "fixtures" / "home_assistant_abbreviations.json").read_text()
)


def expanded_discovery(config: dict[str, Any]) -> dict[str, Any]:
    """A discovery config with Home Assistant's abbreviations expanded, component by component."""
    names = _HOME_ASSISTANT["abbreviations"]
    full = {names.get(key, key): value for key, value in config.items()}
    for block, table in (("device", "device_abbreviations"), ("origin", "origin_abbreviations")):
        if isinstance(full.get(block), dict):
            full[block] = {_HOME_ASSISTANT[table].get(key, key): value for key, value in full[block].items()}
    if isinstance(full.get("availability"), list):
        full["availability"] = [
            {names.get(key, key): value for key, value in entry.items()} for entry in full["availability"]
        ]
    if isinstance(full.get("components"), dict):
        # The bridge's tests name the components block by its short name, as Home Assistant's docs do.
        full["cmps"] = {
            key: {names.get(name, name): value for name, value in component.items()}
            for key, component in full.pop("components").items()
        }
    return full


class Observer:
    """A separate MQTT client that records everything it receives and can publish like a user would."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[Seen] = []
        self._changed = asyncio.Condition()

    async def record(self) -> None:
        async for message in self.client.messages:
            payload = message.payload
            text = (
                payload.decode("utf-8", "replace") if isinstance(payload, bytes | bytearray) else str(payload)
            )
            async with self._changed:
                self.messages.append(Seen(str(message.topic), text, bool(message.retain), int(message.qos)))
                self._changed.notify_all()

    def on(self, topic: str) -> list[Seen]:
        return [seen for seen in self.messages if seen.topic == topic]

    async def wait_for(self, predicate: Callable[[Seen], bool], within: float = 15.0) -> Seen:
        """The first message, recorded already or to come, that satisfies `predicate`."""
        async with asyncio.timeout(within), self._changed:
            while True:
                found = next((seen for seen in self.messages if predicate(seen)), None)
                if found is not None:
                    return found
                await self._changed.wait()

    async def wait_for_topic(self, topic: str, payload: str | None = None, within: float = 15.0) -> Seen:
        return await self.wait_for(
            lambda seen: seen.topic == topic and (payload is None or seen.payload == payload), within
        )

    async def wait_count(self, topic: str, count: int, within: float = 15.0) -> list[Seen]:
        async with asyncio.timeout(within), self._changed:
            while len(self.on(topic)) < count:
                await self._changed.wait()
        return self.on(topic)

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)


@asynccontextmanager
async def observing(
    port: int,
    *filters: str,
    host: str = "127.0.0.1",
    tls_context: ssl.SSLContext | None = None,
    username: str | None = None,
    password: str | None = None,
    identifier: str | None = None,
) -> AsyncIterator[Observer]:
    """An observer; with an `identifier`, a persistent session that receives what arrived while away."""
    async with aiomqtt.Client(
        host,
        port,
        identifier=identifier or f"observer-{uuid.uuid4().hex[:8]}",
        clean_session=identifier is None,
        tls_context=tls_context,
        username=username,
        password=password,
    ) as client:
        for topic_filter in filters:
            await client.subscribe(topic_filter, qos=1)
        observer = Observer(client)
        recorder = asyncio.create_task(observer.record())
        try:
            yield observer
        finally:
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder


@dataclass
class Bridged:
    """A running bridge with its simulator and an observer on its topics: what end-to-end tests drive."""

    simulator: RunningSimulator
    topics: Topics
    observer: Observer
    bridge: Any

    async def command(self, serial: str, path: str, payload: str, within: float = 30) -> dict[str, Any]:
        """Publish one /set and return its one result."""
        topic = self.topics.result(serial, path)
        before = len(self.observer.on(topic))
        await self.observer.publish(self.topics.command(serial, path), payload)
        answer: dict[str, Any] = (await self.observer.wait_count(topic, before + 1, within))[before].json()
        return answer


class QuietHandler:
    """A link's message handler with nothing to say: for tests of the link itself."""

    async def on_connect(self) -> None:
        return None

    async def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        return None


def unique_topics() -> Topics:
    tag = uuid.uuid4().hex[:8]
    return Topics(base=f"eg4test-{tag}", discovery_prefix=f"hatest-{tag}")


def bridge_settings(
    simulator: RunningSimulator,
    port: int,
    topics: Topics,
    *,
    health: dict[str, Any] | None = None,
    control: dict[str, Any] | None = None,
    inverters: dict[str, Any] | None = None,
    cloud: dict[str, Any] | None = None,
    **polling: float,
) -> Settings:
    return settings_from_mapping(
        {
            "cloud": {
                "base_url": simulator.base_url,
                "username": "demo",
                "password": "demo",
                "request_timeout": 5,
            }
            | (cloud or {}),
            "mqtt": {
                "host": "127.0.0.1",
                "port": port,
                "base_topic": topics.base,
                "discovery_prefix": topics.discovery_prefix,
            },
            "polling": {"runtime_seconds": 60, "parameters_seconds": 3600, "write_refresh_seconds": 0.5}
            | polling,
            "health": health or {},
            "control": {"min_write_interval_seconds": 0} | (control or {}),
            "inverters": inverters or {},
        },
        environ={},
    )


async def start_bridge_process(
    config: Path, *extra: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`eg4-bridge run --config <config>` as its own process, its output piped for the test to read."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.service.cli", "run", "--config", str(config), *extra,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
