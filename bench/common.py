"""What every benchmark needs: a mosquitto of its own, the simulator in its own process, a subscriber in its
own process, percentiles and spreads, resident memory and CPU time of a process, the one-line JSON a module
prints for `python -m bench.run`, and a description of the machine for the report.

    .venv/bin/python -m bench.common      # describe this machine, as the report's header does
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

USERNAME = "demo"
PASSWORD = "demo"

#: What starts the one line of JSON a benchmark module prints with `--json`, read by `python -m bench.run`.
JSON_MARK = "BENCH-JSON "

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


# -- what a module prints for bench.run -------------------------------------------------------------


def emit_json(data: dict[str, Any]) -> None:
    """The module's result as one line of JSON, with which bridge it measured."""
    print(JSON_MARK + json.dumps({"bridge": bridge_identity(), **data}), flush=True)


def bridge_identity() -> dict[str, str]:
    """The bridge this process imports: its version and the tree it comes from (a `--compare` worktree or
    this checkout)."""
    import bridge

    return {"version": bridge.__version__, "root": str(Path(bridge.__file__).resolve().parent.parent)}


# -- statistics ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share 0.5 is the median)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Spread:
    """The lowest, the median and the highest of several runs of one figure."""

    low: float
    median: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(min(values), statistics.median(values), max(values), len(values))

    def text(self, digits: int = 2, unit: str = "") -> str:
        if self.runs == 1:
            return f"{self.median:.{digits}f}{unit}"
        return f"{self.low:.{digits}f} / **{self.median:.{digits}f}** / {self.high:.{digits}f}{unit}"


# -- processes: memory and CPU time -----------------------------------------------------------------


def _status_mib(pid: int | None, field: str) -> float:
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc status")


def resident_mib(pid: int | None = None) -> float:
    """Resident set size of a process, in MiB, from /proc."""
    return _status_mib(pid, "VmRSS")


def peak_resident_mib(pid: int | None = None) -> float:
    """The highest resident set size a process has had, in MiB."""
    return _status_mib(pid, "VmHWM")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and all its threads so far (`time.process_time`, for a
    process other than this one); in clock ticks, usually a hundredth of a second."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the broker, the simulator and the bridge ---------------------------------------------------------


class Mosquitto:
    """A broker of the benchmark's own on a free port, which can be stopped and started again."""

    def __init__(self, extra: str = "") -> None:
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="bench-mosquitto-")
        config = Path(self._dir.name) / "mosquitto.conf"
        keep_user = "user root\n" if os.geteuid() == 0 else ""
        # set_tcp_nodelay: otherwise Nagle's algorithm and delayed ACKs add ~40 ms to the broker's writes,
        # which would measure TCP, not the bridge. max_queued_messages 0: no limit, so that a subscriber of
        # the benchmark's own that joins a fleet's hundred thousand retained messages gets every one of
        # them (mosquitto's default of 1,000 drops the rest, the discovery configs among them).
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"set_tcp_nodelay true\nmax_queued_messages 0\n{keep_user}{extra}"
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


def requests_by_path(base_url: str) -> dict[str, int]:
    """Requests the simulator has served so far, by path."""
    return dict(simulator_stats(base_url)["requests"])


def requests_served(base_url: str) -> int:
    return sum(requests_by_path(base_url).values())


def serials(count: int) -> list[str]:
    """The simulator's inverters, in order."""
    return [f"{4512345600 + index:010d}" for index in range(count)]


@asynccontextmanager
async def bridge_in_process(config: dict[str, Any]) -> AsyncIterator[Any]:
    """The bridge daemon in this process, from a config mapping; yields its coordinator once ready (its
    first refresh done and the broker connected)."""
    from bridge.service.config_file import settings_from_mapping
    from bridge.service.daemon import running_bridge

    async with running_bridge(settings_from_mapping(config, environ={}), ready_within=900) as running:
        yield running.coordinator


@contextmanager
def bridge_process(config: dict[str, Any], *, within: float = 600) -> Iterator[int]:
    """`eg4-bridge run` in a process of its own, from a config mapping, with its health endpoint on;
    yields its pid once `/healthz` says it is serving (its first refresh is done)."""
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as directory:
        health = free_port()
        path = Path(directory) / "config.yaml"
        path.write_text(yaml.safe_dump(config | {"health": {"enabled": True, "port": health}}))
        path.chmod(0o600)
        process = subprocess.Popen(
            [
                sys.executable, "-m", "bridge.service.cli", "--log-level", "WARNING",
                "run", "--config", str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_until_healthy(health, within, process)
            yield process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_healthy(port: int, within: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bridge exited with status {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the bridge was not healthy within {within} s")


# -- MQTT: asking for a refresh, and a subscriber of our own ---------------------------------------------


class RefreshTrigger:
    """Asks a running bridge for a full refresh, as any MQTT client may (`<base>/bridge/request/refresh`),
    and waits for its answer; subscribed to nothing else, so that in the bridge's process it costs two
    messages per refresh."""

    def __init__(self, client: aiomqtt.Client, base_topic: str) -> None:
        self._client = client
        self._base = base_topic
        self._transactions = itertools.count(1)

    async def refresh(self) -> None:
        transaction = next(self._transactions)
        await self._client.publish(
            f"{self._base}/bridge/request/refresh", json.dumps({"transaction": transaction}), qos=1
        )
        async for message in self._client.messages:
            answer = json.loads(bytes(message.payload))
            if answer.get("transaction") == transaction:
                if answer.get("status") != "ok":
                    raise RuntimeError(f"the refresh was answered {answer}")
                return
        raise RuntimeError("the broker connection ended before the refresh was answered")


@asynccontextmanager
async def refresh_trigger(port: int, base_topic: str) -> AsyncIterator[RefreshTrigger]:
    async with aiomqtt.Client("127.0.0.1", port, socket_options=NO_DELAY) as client:
        await client.subscribe(f"{base_topic}/bridge/response/refresh", qos=1)
        yield RefreshTrigger(client, base_topic)


@dataclass(frozen=True, slots=True)
class Observed:
    """One message as a subscriber received it."""

    retain: bool
    qos: int
    size: int  # payload bytes
    topic: str


class Observer:
    """`python -m bench.observer` in a process of its own: a real subscriber on the broker, whose work is
    not counted as the bridge's; it writes a line per message to a file, read here."""

    def __init__(self, port: int, filters: Sequence[str]) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="bench-observer-")
        self.path = Path(self._directory.name) / "messages.txt"
        self._command = [
            sys.executable,
            "-m",
            "bench.observer",
            "--port",
            str(port),
            "--output",
            str(self.path),
        ]
        for topic_filter in filters:
            self._command += ["--filter", topic_filter]
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Observer:
        errors = self.path.with_name("errors.txt")
        with errors.open("wb") as stderr:
            self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 30
        while not (self.path.exists() and self.path.read_text().startswith("# subscribed")):
            if self._process.poll() is not None or time.monotonic() > deadline:
                problem = errors.read_text()[-500:]
                self.__exit__()
                raise RuntimeError(f"the observer did not subscribe: {problem}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        self._directory.cleanup()

    def messages(self) -> list[Observed]:
        seen = []
        for line in self.path.read_text().splitlines():
            if line.startswith("#") or line.count(" ") < 3:
                continue
            retain, qos, size, topic = line.split(" ", 3)
            seen.append(Observed(retain == "1", int(qos), int(size), topic))
        return seen

    async def wait_for(self, done: Callable[[list[Observed]], bool], within: float = 120.0) -> list[Observed]:
        """Every message seen so far, once `done` says they are enough."""
        deadline = time.monotonic() + within
        seen = self.messages()
        while not done(seen):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the observer saw {len(seen)} messages and not what was awaited")
            await asyncio.sleep(0.05)
            seen = self.messages()
        return seen


def presence_answer(base_topic: str) -> str:
    return f"{base_topic}/bridge/presence/answer"


async def ask_presence(port: int, base_topic: str) -> None:
    """Ask the bridge whether it serves `base_topic`, as a bridge starting on it would: its answer leaves
    its outbox after every message queued before it, so a subscriber that receives the answer has received
    everything the bridge had to send until then. It changes nothing in the bridge."""
    async with aiomqtt.Client("127.0.0.1", port, socket_options=NO_DELAY) as client:
        await client.publish(f"{base_topic}/bridge/presence/request", "bench", qos=1)


async def everything_out(
    observer: Observer, port: int, base_topic: str, within: float = 900
) -> list[Observed]:
    """What `observer` received until the bridge had sent all it had queued (subscribed to the presence
    answer, `presence_answer(base_topic)`)."""
    answers = sum(m.topic == presence_answer(base_topic) for m in observer.messages())
    await ask_presence(port, base_topic)
    return await observer.wait_for(
        lambda seen: sum(m.topic == presence_answer(base_topic) for m in seen) > answers, within
    )


def is_device_config(topic: str, discovery_prefix: str = "homeassistant") -> bool:
    """`<prefix>/device/<node id>/config`: one inverter's discovery config."""
    parts = topic.split("/")
    return topic.startswith(f"{discovery_prefix}/") and parts[-3:-2] == ["device"] and parts[-1] == "config"


def device_configs(seen: list[Observed], discovery_prefix: str = "homeassistant") -> dict[str, int]:
    """The last size of each retained inverter config seen, by topic."""
    return {m.topic: m.size for m in seen if m.retain and is_device_config(m.topic, discovery_prefix)}


# -- the machine --------------------------------------------------------------------------------------


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
            f"- Libraries: {versions}\n"
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
    packages = ("aiohttp", "aiomqtt", "paho-mqtt", "pydantic")
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


def main() -> int:
    argparse.ArgumentParser(prog="python -m bench.common", description=__doc__).parse_args()
    print(machine().markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
