"""`eg4-bridge demo`: one command that shows the bridge working, or says how to get a broker."""

from __future__ import annotations

import asyncio
import sys

from tests.conftest import Broker, free_port
from tests.harness import observing, unique_topics

SIMULATED = "4512345600"


async def start_demo(*args: str) -> asyncio.subprocess.Process:
    """`eg4-bridge demo` with `args`, its output piped for the test to read."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "demo", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_the_demo_starts_and_publishes_states(broker: Broker) -> None:
    """Against a real broker the demo publishes states, explains how to watch them, and takes a command."""
    topics = unique_topics()
    async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as observer:
        demo = await start_demo(
            "--mqtt-port",
            str(broker.port),
            "--base-topic",
            topics.base,
            "--discovery-prefix",
            topics.discovery_prefix,
            "--runtime-seconds",
            "1",
            "--duration",
            "8",
        )
        await observer.wait_for_topic(topics.bridge_status, "online", within=20)
        charge = await observer.wait_for_topic(topics.state(SIMULATED, "battery/charge_current"))
        assert charge.payload == "25"
        await observer.wait_for_topic(topics.state(SIMULATED, "battery/soc"))
        await observer.wait_for_topic(
            f"{topics.discovery_prefix}/number/eg4_{SIMULATED}/battery_charge_current/config"
        )
        await observer.publish(topics.command(SIMULATED, "battery/charge_current"), "90")
        result = (await observer.wait_for_topic(topics.result(SIMULATED, "battery/charge_current"))).json()
        assert (result["ok"], result["value"]) == (True, 90)
        stdout, _stderr = await asyncio.wait_for(demo.communicate(), timeout=30)
        assert demo.returncode == 0
        text = stdout.decode()
        assert f"mosquitto_sub -h 127.0.0.1 -p {broker.port} -v -t '{topics.base}/#'" in text
        assert f"{topics.base}/{SIMULATED}/battery/charge_current/set -m 80" in text
        await observer.wait_for_topic(topics.bridge_status, "offline")


async def test_the_demo_without_a_broker_says_how_to_start_one() -> None:
    demo = await start_demo("--mqtt-port", str(free_port()))
    _stdout, stderr = await asyncio.wait_for(demo.communicate(), timeout=30)
    assert demo.returncode == 1
    assert "no MQTT broker answers at 127.0.0.1:" in stderr.decode()
    assert "apt-get install -y mosquitto" in stderr.decode()
