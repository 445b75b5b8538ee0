"""Running as a service: systemd notify and watchdog, the health and metrics endpoint, secrets kept out of logs."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from bridge import __version__
from bridge.service.daemon import running_bridge
from bridge.simulator import SimulatorState, run_simulator
from tests.harness import Broker, bridge_settings, free_port, observing, start_bridge_process, unique_topics

pytestmark = pytest.mark.e2e

SERIAL = "4512345600"
CLOUD_SECRET = "cloud-Secret-4711"
MQTT_SECRET = "mqtt-Secret-0815"


@pytest.fixture
async def notify_socket(tmp_path: Path) -> AsyncIterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    yield sock
    sock.close()


async def receive(sock: socket.socket, within: float = 20.0) -> str:
    async with asyncio.timeout(within):
        data = await asyncio.get_running_loop().sock_recv(sock, 4096)
    return data.decode()


def config_file(
    tmp_path: Path, base_url: str, broker_port: int, base_topic: str, *, password: str = "demo"
) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cloud:\n  base_url: {base_url}\n  username: demo\n  password: {password}\n"
        f"mqtt:\n  port: {broker_port}\n  base_topic: {base_topic}\n  username: bridge\n"
        f"polling:\n  runtime_seconds: 1\n"
    )
    return config


async def test_systemd_hears_ready_after_the_first_publish_then_watchdog_then_stopping(
    broker: Broker, tmp_path: Path, notify_socket: socket.socket
) -> None:
    """READY=1 once connected and the first refresh is published; WATCHDOG=1 repeatedly; STOPPING=1 on SIGTERM."""
    topics = unique_topics()
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        config = config_file(tmp_path, simulator.base_url, broker.port, topics.base)
        async with observing(broker.port, f"{topics.base}/#") as observer:
            bridge = await start_bridge_process(
                config,
                env={
                    "NOTIFY_SOCKET": notify_socket.getsockname(),
                    "WATCHDOG_USEC": "300000",
                    "PATH": "/usr/bin:/bin",
                },
            )
            try:
                ready = await receive(notify_socket)
                assert ready.splitlines()[0] == "READY=1"
                assert ready.splitlines()[1] == "STATUS=serving 1 inverters"
                await observer.wait_for_topic(topics.state(SERIAL, "battery/charge_current"), "25", within=2)
                await observer.wait_for_topic(topics.bridge_status, "online", within=2)
                pings = [await receive(notify_socket, within=2) for _ in range(3)]
                assert pings == ["WATCHDOG=1"] * 3
                bridge.send_signal(signal.SIGTERM)
                while (message := await receive(notify_socket, within=10)) == "WATCHDOG=1":
                    pass
                assert message == "STOPPING=1"
            finally:
                if bridge.returncode is None:
                    bridge.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bridge.communicate(), timeout=30)
            assert bridge.returncode == 0


async def test_healthz_and_metrics(tmp_path_factory: pytest.TempPathFactory) -> None:
    """/healthz is 200 with the link up and fresh reads, 503 with a reason when the broker is gone;
    /metrics counts cloud requests, latency, commands, reconnects and refresh age."""
    own = Broker(tmp_path_factory.mktemp("health"))
    own.start()
    port = free_port()
    try:
        async with run_simulator(SimulatorState(inverter_count=2)) as simulator:
            topics = unique_topics()
            settings = bridge_settings(simulator, own.port, topics, health={"enabled": True, "port": port})
            async with running_bridge(settings), aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    assert answer.status == 200
                    health = await answer.json()
                assert health["status"] == "ok"
                assert (health["mqtt_connected"], health["ready"], health["reasons"]) == (True, True, [])
                assert 0 <= health["last_refresh_age_seconds"] < 5

                async with observing(own.port, f"{topics.base}/+/+/+/result") as observer:
                    await observer.publish(topics.command(SERIAL, "battery/charge_current"), "70")
                    await observer.publish(topics.command(SERIAL, "battery/charge_current"), "700")
                    await observer.wait_count(topics.result(SERIAL, "battery/charge_current"), 2)

                async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
                    assert answer.status == 200
                    assert answer.headers["Content-Type"].startswith("text/plain")
                    assert_counted_start_and_two_commands(await answer.text())

                own.stop()
                await asyncio.sleep(0.5)
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    assert answer.status == 503
                    health = await answer.json()
                assert health["status"] == "unhealthy"
                assert health["reasons"] == ["not connected to the MQTT broker"]

                own.start()
                async with asyncio.timeout(30):
                    while True:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                            if answer.status == 200:
                                break
                        await asyncio.sleep(0.2)
                async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
                    assert "eg4_bridge_mqtt_reconnects_total 1.0" in await answer.text()
    finally:
        own.stop()


def assert_counted_start_and_two_commands(metrics: str) -> None:
    """`/metrics` after two inverters' start and two commands (one accepted, one refused), no reconnect."""
    # Three windows per inverter at start and one register read back after the write; the
    # refresh that follows a write may be under way when this scrapes.
    reads = re.search(
        r'eg4_bridge_cloud_requests_total\{endpoint="remoteRead/read",outcome="ok"\} (\d+)',
        metrics,
    )
    assert reads is not None
    assert int(reads.group(1)) >= 7, "the start's windows of both inverters and the read-back"
    assert 'eg4_bridge_cloud_requests_total{endpoint="remoteSet/write",outcome="ok"} 1.0' in metrics
    assert 'eg4_bridge_cloud_requests_total{endpoint="api/login",outcome="ok"} 1.0' in metrics
    assert (
        f'eg4_bridge_cloud_request_seconds_count{{endpoint="remoteRead/read"}} {reads.group(1)}.0' in metrics
    )
    assert (
        f'eg4_bridge_cloud_request_seconds_bucket{{endpoint="remoteRead/read",le="30.0"}} {reads.group(1)}.0'
        in metrics
    )
    assert 'eg4_bridge_commands_total{outcome="accepted"} 1.0' in metrics
    assert 'eg4_bridge_commands_total{outcome="refused"} 1.0' in metrics
    assert 'eg4_bridge_commands_total{outcome="failed"} 0.0' in metrics
    assert "eg4_bridge_mqtt_reconnects_total 0.0" in metrics
    assert f'eg4_bridge_info{{version="{__version__}"}} 1.0' in metrics
    assert 'eg4_bridge_last_refresh_age_seconds{serial="4512345600"}' in metrics
    assert 'eg4_bridge_last_refresh_age_seconds{serial="4512345601"}' in metrics


async def test_health_is_off_by_default(broker: Broker) -> None:
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        settings = bridge_settings(simulator, broker.port, unique_topics())
        assert not settings.health.enabled
        async with running_bridge(settings):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", settings.health.port), timeout=0.5).close()


@pytest.mark.parametrize("cloud_password", [CLOUD_SECRET, "wrong-" + CLOUD_SECRET])
async def test_passwords_never_appear_in_logs_even_at_debug(
    broker: Broker, tmp_path: Path, cloud_password: str
) -> None:
    """At DEBUG, with a working login and with a refused one, neither password is ever written out."""
    simulator_state = SimulatorState(inverter_count=1, password=CLOUD_SECRET)
    topics = unique_topics()
    async with run_simulator(simulator_state) as simulator:
        config = config_file(tmp_path, simulator.base_url, broker.port, topics.base, password=cloud_password)
        async with observing(broker.port, f"{topics.base}/#") as observer:
            bridge = await start_bridge_process(
                config,
                "--log-level",
                "DEBUG",
                env={"EG4_MQTT_PASSWORD": MQTT_SECRET, "PATH": "/usr/bin:/bin"},
            )
            if cloud_password == CLOUD_SECRET:
                await observer.wait_for_topic(topics.state(SERIAL, "battery/charge_current"), within=20)
                await observer.publish(topics.command(SERIAL, "battery/charge_current"), "55")
                await observer.wait_for_topic(topics.result(SERIAL, "battery/charge_current"))
                bridge.send_signal(signal.SIGTERM)
            stdout, stderr = await asyncio.wait_for(bridge.communicate(), timeout=30)
        everything = stdout.decode() + stderr.decode() + "".join(seen.payload for seen in observer.messages)
    assert '"level": "debug"' in everything, "the run must really have logged at DEBUG"
    assert bridge.returncode == (0 if cloud_password == CLOUD_SECRET else 1)
    assert CLOUD_SECRET not in everything
    assert MQTT_SECRET not in everything


def test_version_flag_reports_the_version_discovery_announces() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "bridge.service.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.strip() == f"eg4-bridge {__version__}"


async def test_a_failed_start_ends_with_its_sentence_and_no_trace(
    tmp_path_factory: pytest.TempPathFactory, broker: Broker
) -> None:
    """A refused cloud password (exit 1) or an unknown serial (exit 2), several times over: each run prints
    its sentence, and never "Task was destroyed", "Event loop is closed" or a traceback."""
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        base = tmp_path_factory.mktemp("failed-starts")
        cases = {
            "wrong-password": ({"password": "wrong"}, {}, 1, "refused the account name or password"),
            "unknown-serial": (
                {},
                {"9999999999": {"max_charge_current": 10}},
                2,
                "not on this cloud account",
            ),
        }
        for name, (cloud, inverters, status, sentence) in cases.items():
            config = base / f"{name}.yaml"
            document = {
                "cloud": {"base_url": simulator.base_url, "username": "demo", "password": "demo"} | cloud,
                "mqtt": {"port": broker.port, "base_topic": f"eg4failed-{name}"},
                "inverters": inverters,
            }
            config.write_text(yaml.safe_dump(document))
            config.chmod(0o600)
            for _run in range(6):
                process = await start_bridge_process(config)
                _out, err = await asyncio.wait_for(process.communicate(), 60)
                text = err.decode()
                assert process.returncode == status, text
                assert sentence in text
                for trace in (
                    "Task was destroyed",
                    "Event loop is closed",
                    "Traceback",
                    "Unexpected message",
                ):
                    assert trace not in text, text
