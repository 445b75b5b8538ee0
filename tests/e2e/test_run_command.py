"""`eg4-bridge run` as a process: a config file, a real broker, the simulator, and SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bridge.simulator import SimulatorState, run_simulator
from tests.harness import Broker, free_port, observing, start_bridge_process, unique_topics

pytestmark = pytest.mark.e2e

SERIAL = "4512345600"


async def test_run_serves_commands_and_stops_cleanly_on_sigterm(broker: Broker, tmp_path: Path) -> None:
    """Started from a config file with the password in the environment; SIGTERM: offline, exit 0."""
    topics = unique_topics()
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"cloud:\n  base_url: {simulator.base_url}\n  username: demo\n"
            f"mqtt:\n  port: {broker.port}\n  base_topic: {topics.base}\n  discovery_prefix: {topics.discovery_prefix}\n"
        )
        async with observing(broker.port, f"{topics.base}/#") as observer:
            bridge = await start_bridge_process(
                config, env={"EG4_CLOUD_PASSWORD": "demo", "PATH": "/usr/bin:/bin"}
            )
            await observer.wait_for_topic(topics.state(SERIAL, "battery/charge_current"), "25", within=20)
            await observer.publish(topics.command(SERIAL, "battery/charge_current"), "45")
            result = (await observer.wait_for_topic(topics.result(SERIAL, "battery/charge_current"))).json()
            assert (result["ok"], result["value"]) == (True, 45)
            bridge.send_signal(signal.SIGTERM)
            _stdout, stderr = await asyncio.wait_for(bridge.communicate(), timeout=30)
            assert bridge.returncode == 0, stderr.decode()
            await observer.wait_for_topic(topics.bridge_status, "offline")
        logs = stderr.decode()
        assert '"event": "bridge_stopped"' in logs  # JSON lines, as stderr is not a terminal
        assert '"level": "error"' not in logs
        assert "demo" not in logs.replace('"username": "demo"', "")


async def test_run_with_refused_credentials_exits_1_saying_so(tmp_path: Path) -> None:
    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"cloud:\n  base_url: {simulator.base_url}\n  username: demo\n  password: not-the-one\n"
            f"mqtt:\n  port: {free_port()}\n"
        )
        bridge = await start_bridge_process(config)
        _stdout, stderr = await asyncio.wait_for(bridge.communicate(), timeout=30)
    assert bridge.returncode == 1
    text = stderr.decode()
    assert "the cloud refused the account name or password (LOGIN_ERROR_DISMATCH)" in text
    assert "not-the-one" not in text
