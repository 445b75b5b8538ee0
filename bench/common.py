"""What every benchmark needs: a mosquitto of its own, the simulator in its own process, percentiles,
resident memory, and a description of the machine for the report."""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from bridge.service.config_file import settings_from_mapping
from bridge.service.coordinator import Coordinator
from bridge.service.daemon import running_bridge

USERNAME = "demo"
PASSWORD = "demo"


#: For the benchmark's own MQTT clients, for the same reason as the broker's set_tcp_nodelay.
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {within} s")


class Mosquitto:
    """A broker of the benchmark's own on a free port, which can be stopped and started again."""

    def __init__(self, extra: str = "") -> None:
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="bench-mosquitto-")
        config = Path(self._dir.name) / "mosquitto.conf"
        keep_user = "user root\n" if os.geteuid() == 0 else ""
        # set_tcp_nodelay: otherwise Nagle's algorithm and delayed ACKs add ~40 ms to the broker's writes,
        # which would measure TCP, not the bridge.
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"set_tcp_nodelay true\n{keep_user}{extra}"
        )
        self._config = config
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._process = subprocess.Popen(
            [executable, "-c", str(self._config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._dir.cleanup()


@contextmanager
def simulator_process(
    inverters: int,
    latency_ms: float = 0.0,
    *,
    dongle_port: int | None = None,
    dongle_latency_ms: float = 0.0,
    modbus_port: int | None = None,
) -> Iterator[str]:
    """`eg4-bridge simulator` in a process of its own, so that its CPU is not counted as the bridge's; with
    `dongle_port`, its simulated dongles answer there."""
    port = free_port()
    dongles = (
        []
        if dongle_port is None
        else ["--dongle-port", str(dongle_port), "--dongle-latency-ms", str(dongle_latency_ms)]
    ) + ([] if modbus_port is None else ["--modbus-port", str(modbus_port)])
    process = subprocess.Popen(
        [
            sys.executable, "-m", "bridge.service.cli", "--log-level", "WARNING", "simulator",
            "--port", str(port), "--inverters", str(inverters), "--latency-ms", str(latency_ms), *dongles,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        for local_port in (dongle_port, modbus_port):
            if local_port is not None:
                wait_for_port(local_port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def simulator_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_sim/stats", timeout=10) as answer:
        stats: dict[str, Any] = json.loads(answer.read())
        return stats


def requests_served(base_url: str) -> int:
    return sum(simulator_stats(base_url)["requests"].values())


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share 0.5 is the median)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def resident_mib(pid: int | None = None) -> float:
    """Resident set size of a process, in MiB, from /proc."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


@dataclass(frozen=True, slots=True)
class Machine:
    cpu: str
    cores: int
    memory_gib: float
    system: str
    python: str
    versions: dict[str, str]

    def markdown(self) -> str:
        versions = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        return (
            f"- CPU: {self.cpu}, {self.cores} cores; memory {self.memory_gib:.0f} GiB\n"
            f"- System: {self.system}; Python {self.python}\n"
            f"- Versions: {versions}\n"
        )


def machine() -> Machine:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    packages = ("eg4-mqtt-bridge", "aiohttp", "aiomqtt", "paho-mqtt", "pydantic")
    versions = {name: metadata.version(name) for name in packages}
    mosquitto = subprocess.run(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-h"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    versions["mosquitto"] = mosquitto[0].split()[-1] if mosquitto else "unknown"
    return Machine(
        cpu=cpu,
        cores=os.cpu_count() or 0,
        memory_gib=memory_kib / 1024 / 1024,
        system=platform.platform(),
        python=platform.python_version(),
        versions=versions,
    )


class RefreshProbe:
    """Asks a running bridge for a full refresh, as any MQTT client may (`<base>/bridge/request/refresh`),
    and counts the messages the bridge publishes until its answer arrives."""

    def __init__(self, client: aiomqtt.Client, base_topic: str) -> None:
        self._client = client
        self._base = base_topic
        self._transactions = itertools.count(1)

    async def refresh(self) -> int:
        """One full refresh; returns how many messages the bridge published for it."""
        transaction = next(self._transactions)
        await self._client.publish(
            f"{self._base}/bridge/request/refresh", json.dumps({"transaction": transaction}), qos=1
        )
        messages = 0
        async for message in self._client.messages:
            if str(message.topic) == f"{self._base}/bridge/response/refresh":
                if json.loads(bytes(message.payload)).get("transaction") == transaction:
                    return messages
            else:
                messages += 1
        raise RuntimeError("the broker connection ended before the refresh was answered")


@asynccontextmanager
async def refresh_probe(
    port: int, base_topic: str, discovery_prefix: str = "homeassistant"
) -> AsyncIterator[RefreshProbe]:
    async with aiomqtt.Client("127.0.0.1", port, socket_options=NO_DELAY) as client:
        for topic_filter in (f"{base_topic}/#", f"{discovery_prefix}/#"):
            await client.subscribe(topic_filter, qos=1)
        probe = RefreshProbe(client, base_topic)
        # The subscription brings every retained message the bridge published before: one refresh, not
        # counted, lets them go by.
        await probe.refresh()
        yield probe


@asynccontextmanager
async def bridge_in_process(config: dict[str, Any]) -> AsyncIterator[Coordinator]:
    """The bridge daemon in this process, from a config mapping; yields its coordinator once ready."""
    async with running_bridge(settings_from_mapping(config, environ={}), ready_within=900) as running:
        yield running.coordinator


@contextmanager
def bridge_process(config: dict[str, Any], *, within: float = 600) -> Iterator[int]:
    """`eg4-bridge run` in a process of its own, from a config mapping, with its health endpoint on;
    yields its pid once `/healthz` says it is serving."""
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as directory:
        health = free_port()
        path = Path(directory) / "config.yaml"
        path.write_text(yaml.safe_dump(config | {"health": {"enabled": True, "port": health}}))
        path.chmod(0o600)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bridge.service.cli",
                "--log-level",
                "WARNING",
                "run",
                "--config",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_healthy(health, within)
            yield process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_healthy(port: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the bridge was not healthy within {within} s")
