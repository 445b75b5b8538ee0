"""`eg4-bridge demo`: one command that shows the bridge working, or says how to get a broker."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.e2e.test_security import BROKER_PASSWORD, password_broker
from tests.harness import Broker, free_port, observing, unique_topics
from tests.reliability import record

pytestmark = pytest.mark.e2e

__all__ = ["password_broker"]  # a fixture of this module too

SIMULATED = "4512345600"


async def start_demo(*args: str) -> asyncio.subprocess.Process:
    """`eg4-bridge demo` with `args`, its output piped for the test to read."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.service.cli", "demo", *args,
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
        await observer.wait_for_topic(f"{topics.discovery_prefix}/device/eg4demo_{SIMULATED}/config")
        await observer.publish(topics.command(SIMULATED, "battery/charge_current"), "90")
        result = (await observer.wait_for_topic(topics.result(SIMULATED, "battery/charge_current"))).json()
        assert (result["ok"], result["value"]) == (True, 90)
        stdout, _stderr = await asyncio.wait_for(demo.communicate(), timeout=30)
        assert demo.returncode == 0
        text = stdout.decode()
        assert f"mosquitto_sub -h 127.0.0.1 -p {broker.port} -v -t '{topics.base}/#'" in text
        assert f"{topics.base}/{SIMULATED}/battery/charge_current/set -m 80" in text
        await observer.wait_for_topic(topics.bridge_status, "")
    async with observing(broker.port, f"{topics.base}/#", f"{topics.discovery_prefix}/#") as after:
        await asyncio.sleep(1.0)  # a broker sends retained messages at once on subscription
        assert after.messages == [], "the demo left retained messages behind"
    record(
        "fault",
        "the demo run on a broker a real bridge uses",
        1,
        "it published under eg4demo with device ids of its own, and left no retained message when it stopped",
    )


async def test_the_local_demo_reaches_the_inverters_through_their_dongles(broker: Broker) -> None:
    topics = unique_topics()
    async with observing(broker.port, f"{topics.base}/#") as observer:
        demo = await start_demo(
            "--local", "--mqtt-port", str(broker.port), "--base-topic", topics.base,
            "--discovery-prefix", topics.discovery_prefix, "--duration", "5",
        )  # fmt: skip
        await observer.wait_for_topic(topics.state(SIMULATED, "battery/charge_current"), "25", within=20)
        await observer.publish(topics.command(SIMULATED, "battery/charge_current"), "70")
        result = (await observer.wait_for_topic(topics.result(SIMULATED, "battery/charge_current"))).json()
        stdout, _stderr = await asyncio.wait_for(demo.communicate(), timeout=30)
    assert (result["ok"], result["via"]) == (True, "dongle")
    assert "through their simulated WiFi dongles, with no cloud" in stdout.decode()
    assert demo.returncode == 0


async def test_the_demo_uses_a_base_topic_of_its_own_by_default() -> None:
    """A real bridge's `eg4` is never the demo's: its exit cannot mark a real bridge offline."""
    from bridge.service.cli import _parser

    args = _parser().parse_args(["demo"])
    assert args.base_topic == "eg4demo"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--inverters", "0"), "--inverters must be from 1 to 100"),
        (("--inverters", "101"), "--inverters must be from 1 to 100"),
        (("--duration", "-1"), "--duration must be a positive number of seconds"),
    ],
)
async def test_the_demo_refuses_impossible_flags_cleanly(flags: tuple[str, str], message: str) -> None:
    demo = await start_demo(*flags)
    _stdout, stderr = await asyncio.wait_for(demo.communicate(), timeout=30)
    assert demo.returncode == 2
    assert stderr.decode() == f"eg4-bridge demo: {message}\n"


async def test_the_demo_without_a_broker_says_how_to_start_one() -> None:
    demo = await start_demo("--mqtt-port", str(free_port()))
    _stdout, stderr = await asyncio.wait_for(demo.communicate(), timeout=30)
    assert demo.returncode == 1
    assert "no MQTT broker answers at 127.0.0.1:" in stderr.decode()
    assert "apt-get install -y mosquitto" in stderr.decode()
    port = stderr.decode().split("127.0.0.1:")[1].split(".")[0]
    assert f"mosquitto -d -p {port}" in stderr.decode(), "the way to start a broker names the port asked for"


async def test_the_demo_logs_in_to_a_broker_that_wants_a_login(password_broker: Broker) -> None:
    topics = unique_topics()
    demo = await start_demo(
        "--mqtt-port", str(password_broker.port), "--mqtt-username", "bridge", "--mqtt-password", BROKER_PASSWORD,
        "--base-topic", topics.base, "--duration", "4",
    )  # fmt: skip
    async with observing(
        password_broker.port, f"{topics.base}/#", username="bridge", password=BROKER_PASSWORD
    ) as seen:
        await seen.wait_for_topic(topics.bridge_status, "online", within=20)
    _stdout, stderr = await asyncio.wait_for(demo.communicate(), timeout=30)
    assert demo.returncode == 0, stderr.decode()


async def test_a_refused_login_or_a_second_demo_ends_with_a_sentence(
    password_broker: Broker, broker: Broker
) -> None:
    refused = await start_demo("--mqtt-port", str(password_broker.port), "--mqtt-username", "bridge",
                               "--mqtt-password", "wrong", "--duration", "5")  # fmt: skip
    _out, err = await asyncio.wait_for(refused.communicate(), timeout=30)
    text = err.decode()
    assert refused.returncode == 1, text
    assert "refused the bridge's credentials" in text
    assert "Traceback" not in text
    assert "wrong" not in text
    topics = unique_topics()
    first = await start_demo("--mqtt-port", str(broker.port), "--base-topic", topics.base, "--duration", "15")
    async with observing(broker.port, f"{topics.base}/#") as seen:
        await seen.wait_for_topic(topics.bridge_status, "online", within=20)
    second = await start_demo("--mqtt-port", str(broker.port), "--base-topic", topics.base, "--duration", "5")
    _out, err = await asyncio.wait_for(second.communicate(), timeout=30)
    text = err.decode()
    assert second.returncode == 2, text
    assert f"another bridge is running on the base topic '{topics.base}'" in text
    assert "Traceback" not in text
    first.terminate()
    await asyncio.wait_for(first.communicate(), timeout=30)
