"""Every broker users run: the bridge serves Home Assistant through NATS's MQTT listener and RabbitMQ's MQTT
plugin (both MQTT 3.1.1 only), each a private instance of this test run on free ports. With `mqtt.protocol:
auto` the bridge finds that MQTT 5 is not spoken and speaks 3.1.1; a retained /set stored on the broker and
replayed at subscription still arrives flagged, and is refused."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bridge.mqtt.topics import Topics
from bridge.service.config_file import settings_from_mapping
from bridge.service.daemon import running_bridge
from bridge.simulator import SimulatorState, run_simulator
from tests.harness import Bridged, free_port, observing, unique_topics

pytestmark = pytest.mark.e2e

SERIAL = "4512345600"
CHARGE = "battery/charge_current"


@dataclass(frozen=True)
class ForeignBroker:
    name: str
    port: int
    username: str | None = None
    password: str | None = None
    #: Whether a retained message reaches a subscription with wildcards (RabbitMQ 3: no).
    replays_retained_to_wildcards: bool = True


def wait_for_port(port: int, process: subprocess.Popen[bytes], within: float, log: Path) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the broker exited at start: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"no broker on port {port} after {within} s: {log.read_text(errors='replace')[-2000:]}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    with_group = os.getpgid(process.pid)
    os.killpg(with_group, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(with_group, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForeignBroker]:
    executable = shutil.which("nats-server") or "/usr/sbin/nats-server"
    assert Path(executable).exists(), "nats-server is needed (apt-get install nats-server; .ci/run does)"
    workdir = tmp_path_factory.mktemp("nats")
    port, client_port = free_port(), free_port()
    (workdir / "nats.conf").write_text(
        f'server_name: "eg4test"\nlisten: "127.0.0.1:{client_port}"\n'
        f'jetstream {{ store_dir: "{workdir / "js"}" }}\nmqtt {{ listen: "127.0.0.1:{port}" }}\n'
    )
    log = workdir / "nats.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [executable, "-c", str(workdir / "nats.conf")], stdout=out, stderr=out, start_new_session=True
        )
    try:
        wait_for_port(port, process, 20, log)
        yield ForeignBroker("nats", port)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForeignBroker]:
    executable = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
    assert Path(executable).exists(), (
        "rabbitmq-server is needed (apt-get install rabbitmq-server; .ci/run does)"
    )
    workdir = tmp_path_factory.mktemp("rabbitmq")
    port, amqp_port, dist_port = free_port(), free_port(), free_port()
    (workdir / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = {amqp_port}\nmqtt.listeners.tcp.default = {port}\n"
        "mqtt.allow_anonymous = false\nloopback_users = none\n"
    )
    (workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
    for folder in ("mnesia", "log"):
        (workdir / folder).mkdir()
    # As root, rabbitmq-server runs the broker as the rabbitmq user, who must own its files.
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(workdir)], check=True)
        for parent in workdir.parents:  # pytest's own folders are its owner's alone: let it through
            if parent == Path(tempfile.gettempdir()) or parent == parent.parent:
                break
            parent.chmod(parent.stat().st_mode | 0o711)
    environment = os.environ | {
        "RABBITMQ_NODENAME": f"eg4test{uuid.uuid4().hex[:8]}@localhost",
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
        "RABBITMQ_FEATURE_FLAGS_FILE": str(workdir / "feature_flags"),
        "RABBITMQ_PID_FILE": str(workdir / "pid"),
        "HOME": str(workdir),
    }
    log = workdir / "out.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [executable], stdout=out, stderr=out, env=environment, start_new_session=True
        )
    try:
        wait_for_port(port, process, 90, log)
        yield ForeignBroker("rabbitmq", port, "guest", "guest", replays_retained_to_wildcards=False)
    finally:
        stop(process)
        # As root the broker is started again as the rabbitmq user, in a session of its own that the
        # process group above does not reach: found by its node name, each test run's broker is stopped.
        stop_everything_of(environment["RABBITMQ_NODENAME"])


def stop_everything_of(node: str) -> None:
    """Stop every process started for the RabbitMQ node `node` (its scripts and the Erlang VM)."""
    marker = f"RABBITMQ_NODENAME={node}".encode()
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        left = [pid for pid in _pids() if marker in _environment_of(pid)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_number)
        deadline = time.monotonic() + 20
        while left and time.monotonic() < deadline:
            left = [pid for pid in left if Path(f"/proc/{pid}").exists() and marker in _environment_of(pid)]
            time.sleep(0.2)
        if not left:
            return


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _environment_of(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


@asynccontextmanager
async def bridged(broker: ForeignBroker, topics: Topics) -> AsyncIterator[Bridged]:
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        mqtt: dict[str, Any] = {
            "port": broker.port,
            "base_topic": topics.base,
            "discovery_prefix": topics.discovery_prefix,
            "protocol": "auto",
        }
        if broker.username:
            mqtt |= {"username": broker.username, "password": broker.password}
        settings = settings_from_mapping(
            {
                "cloud": {"base_url": simulator.base_url, "username": "demo", "password": "demo"},
                "mqtt": mqtt,
                "polling": {"runtime_seconds": 60, "parameters_seconds": 3600, "write_refresh_seconds": 0.5},
                "control": {"min_write_interval_seconds": 0},
            },
            environ={},
        )
        async with observing(
            broker.port,
            f"{topics.base}/#",
            f"{topics.discovery_prefix}/#",
            username=broker.username,
            password=broker.password,
        ) as observer:
            async with running_bridge(settings, ready_within=60) as bridge:
                yield Bridged(simulator, topics, observer, bridge)


async def serves_home_assistant(broker: ForeignBroker) -> None:
    topics = unique_topics()
    # A retained command stored before the bridge starts: replayed at its subscription, flagged, refused.
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username=broker.username, password=broker.password
    ) as attacker:
        await attacker.publish(topics.command(SERIAL, CHARGE), "200", qos=1, retain=True)
    async with bridged(broker, topics) as rig:
        assert rig.bridge.coordinator is not None
        await rig.observer.wait_for_topic(topics.bridge_status, "online")
        config = (await rig.observer.wait_for_topic(topics.device_discovery(SERIAL))).json()
        assert config["cmps"]["battery_charge_current"]["command_topic"] == topics.command(SERIAL, CHARGE)
        await rig.observer.wait_for_topic(topics.state(SERIAL, CHARGE), "25")
        if broker.replays_retained_to_wildcards:
            replayed = (await rig.observer.wait_for_topic(topics.result(SERIAL, CHARGE))).json()
            assert replayed["outcome"] == "refused"
            assert replayed["error"].startswith("retained command ignored")
        else:
            # RabbitMQ 3 sends no retained message to a wildcard filter: the stored /set never arrives.
            await asyncio.sleep(2)
            assert rig.observer.on(topics.result(SERIAL, CHARGE)) == []
        accepted = await rig.command(SERIAL, CHARGE, "60")
        assert (accepted["outcome"], accepted["confirmed"]) == ("accepted", True)
        await rig.observer.wait_for_topic(topics.state(SERIAL, CHARGE), "60")
        await rig.observer.publish(topics.command(SERIAL, CHARGE), "", retain=True)
    assert rig.simulator.state.writes == [(SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE", "60")]


async def test_the_bridge_serves_home_assistant_through_nats(nats: ForeignBroker) -> None:
    await serves_home_assistant(nats)


async def test_the_bridge_serves_home_assistant_through_rabbitmq(rabbitmq: ForeignBroker) -> None:
    await serves_home_assistant(rabbitmq)
