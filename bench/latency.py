"""Command latency: from publishing `/set` to receiving its result, and its new state, over many commands.

A command crosses the broker twice (the `/set` in, the result out) and the cloud twice (the write, then the
read-back that confirms it). The floor, measured in the same run, is exactly that: two MQTT
publish-to-receive hops on the same broker, plus one direct HTTP write and one direct one-register read of
the simulator. The bridge runs as its own process (`eg4-bridge run`), as deployed; its CPU time over the
commands (user and system, from /proc) divided by the commands is its CPU per command.

    .venv/bin/python -m bench.latency --commands 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp
import aiomqtt

from bench.common import (
    NO_DELAY,
    PASSWORD,
    USERNAME,
    Mosquitto,
    bridge_process,
    cpu_seconds,
    emit_json,
    percentile,
    simulator_process,
)
from bridge.service.logs import configure_logging

SERIAL = "4512345600"
WRITE_PATH = "/WManage/web/maintain/remoteSet/write"
READ_PATH = "/WManage/web/maintain/remoteRead/read"
SHARES = (0.5, 0.95, 0.99, 1.0)


@dataclass(frozen=True, slots=True)
class LatencyReport:
    commands: int
    result_ms: list[float]
    state_ms: list[float]
    mqtt_ms: list[float]
    http_ms: list[float]
    read_ms: list[float]
    cpu_seconds: float = 0.0  # the bridge's, over all the commands

    @property
    def cpu_ms_per_command(self) -> float:
        return 1000 * self.cpu_seconds / self.commands

    @property
    def floor_ms(self) -> list[float]:
        """Per command: two MQTT hops, one HTTP write and one HTTP read-back, each measured on its own."""
        parts = zip(self.mqtt_ms, self.http_ms, self.read_ms, strict=True)
        return [2 * mqtt + write + read for mqtt, write, read in parts]

    def ratio(self, values: list[float], share: float) -> float:
        return percentile(values, share) / percentile(self.floor_ms, share)

    def markdown(self) -> str:
        rows = [
            "| | p50 ms | p95 ms | p99 ms | max ms |",
            "|---|---|---|---|---|",
        ]
        for name, values in (
            ("MQTT publish-to-receive hop", self.mqtt_ms),
            ("direct HTTP write", self.http_ms),
            ("direct one-register read", self.read_ms),
            ("floor: 2 hops + write + read-back", self.floor_ms),
            ("bridge: /set to result", self.result_ms),
            ("bridge: /set to state", self.state_ms),
        ):
            rows.append(f"| {name} | " + " | ".join(f"{percentile(values, s):.2f}" for s in SHARES) + " |")
        rows += ["", "| ratio to the floor | p50 | p99 |", "|---|---|---|"]
        for name, values in (("result", self.result_ms), ("state", self.state_ms)):
            p50, p99 = self.ratio(values, 0.5), self.ratio(values, 0.99)
            rows.append(f"| **{name} / floor** | **{p50:.2f}x** | **{p99:.2f}x** |")
        rows += ["", f"The bridge's CPU per command: {self.cpu_ms_per_command:.2f} ms."]
        return "\n".join(rows) + "\n"

    def figures(self) -> dict[str, float]:
        """What bench.run repeats and compares."""
        return command_figures(self.result_ms, self.floor_ms) | {
            "cpu_ms_per_command": self.cpu_ms_per_command,
            "state_p50_ms": percentile(self.state_ms, 0.5),
            "mqtt_hop_p50_ms": percentile(self.mqtt_ms, 0.5),
            "http_write_p50_ms": percentile(self.http_ms, 0.5),
            "http_read_p50_ms": percentile(self.read_ms, 0.5),
        }


def command_figures(result_ms: list[float], floor_ms: list[float]) -> dict[str, float]:
    """p50 and p99 of /set-to-result and of its floor, and their ratios."""
    figures: dict[str, float] = {}
    for name, share in (("p50", 0.5), ("p99", 0.99)):
        result, floor = percentile(result_ms, share), percentile(floor_ms, share)
        figures |= {f"result_{name}_ms": result, f"floor_{name}_ms": floor, f"{name}_ratio": result / floor}
    return figures


async def mqtt_round_trips(port: int, count: int) -> list[float]:
    times = []
    async with aiomqtt.Client("127.0.0.1", port, socket_options=NO_DELAY) as client:
        await client.subscribe("bench/echo", qos=1)
        messages = aiter(client.messages)
        for index in range(count):
            started = time.perf_counter()
            await client.publish("bench/echo", str(index), qos=1)
            await anext(messages)
            times.append((time.perf_counter() - started) * 1000)
    return times


async def timed_posts(base_url: str, path: str, forms: list[dict[str, str]]) -> list[float]:
    """Milliseconds for each POST, one after another, in one logged-in session."""
    times = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await session.post(f"{base_url}/WManage/api/login", data={"account": USERNAME, "password": PASSWORD})
        for form in forms:
            started = time.perf_counter()
            async with session.post(f"{base_url}{path}", data=form) as answer:
                assert (await answer.json())["success"] is True
            times.append((time.perf_counter() - started) * 1000)
    return times


def write_forms(count: int) -> list[dict[str, str]]:
    return [
        {
            "inverterSn": SERIAL,
            "holdParam": "HOLD_LEAD_ACID_DISCHARGE_RATE",
            "valueText": str(100 + index % 2),
            "clientType": "WEB",
            "remoteSetType": "NORMAL",
        }
        for index in range(count)
    ]


#: The read-back the bridge does after each write: the parameter's one register.
READ_BACK_FORM = {"inverterSn": SERIAL, "startRegister": "101", "pointNumber": "1", "autoRetry": "true"}


async def bridge_commands(port: int, base_topic: str, count: int) -> tuple[list[float], list[float]]:
    """Sequential commands; each waits for both its result and its state before the next is sent."""
    result_ms, state_ms = [], []
    prefix = f"{base_topic}/{SERIAL}/battery/charge_current"
    async with aiomqtt.Client("127.0.0.1", port, socket_options=NO_DELAY) as client:
        await client.subscribe(f"{prefix}/result", qos=1)
        await client.subscribe(f"{prefix}/state", qos=1)
        messages = aiter(client.messages)
        await asyncio.sleep(0.5)
        while True:  # let the retained state go by
            try:
                async with asyncio.timeout(0.3):
                    await anext(messages)
            except TimeoutError:
                break
        for index in range(count):
            value = str(100 + index % 2)  # alternate, so that every command changes the state
            started = time.perf_counter()
            await client.publish(f"{prefix}/set", value, qos=1)
            got_result = got_state = 0.0
            while not (got_result and got_state):
                message = await anext(messages)
                elapsed = (time.perf_counter() - started) * 1000
                payload = (
                    message.payload.decode() if isinstance(message.payload, bytes) else str(message.payload)
                )
                if str(message.topic).endswith("/result"):
                    assert json.loads(payload)["ok"] is True, payload
                    got_result = elapsed
                elif payload == value:
                    got_state = elapsed
            result_ms.append(got_result)
            state_ms.append(got_state)
    return result_ms, state_ms


def run(commands: int) -> LatencyReport:
    with Mosquitto() as broker, simulator_process(inverters=2) as base_url:
        base_topic = "benchlatency"
        mqtt_ms = asyncio.run(mqtt_round_trips(broker.port, commands))
        http_ms = asyncio.run(timed_posts(base_url, WRITE_PATH, write_forms(commands)))
        read_ms = asyncio.run(timed_posts(base_url, READ_PATH, [READ_BACK_FORM] * commands))
        config = {
            "cloud": {"base_url": base_url, "username": USERNAME, "password": PASSWORD},
            "mqtt": {"port": broker.port, "base_topic": base_topic},
            "polling": {
                "runtime_seconds": 3600,
                "parameters_seconds": 86400,
                "refresh_request_gap_seconds": 0,
            },
            "control": {"min_write_interval_seconds": 0},
        }
        with bridge_process(config) as pid:
            (result_ms, state_ms), cpu = timed_commands(pid, broker.port, base_topic, commands)
    return LatencyReport(commands, result_ms, state_ms, mqtt_ms, http_ms, read_ms, cpu)


def timed_commands(
    pid: int, port: int, base_topic: str, commands: int
) -> tuple[tuple[list[float], list[float]], float]:
    """`bridge_commands`, and the CPU seconds the bridge's process spent meanwhile."""
    started = cpu_seconds(pid)
    times = asyncio.run(bridge_commands(port, base_topic, commands))
    return times, cpu_seconds(pid) - started


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--commands", type=int, default=200, help="commands to time (and floor requests)")
    parser.add_argument("--json", action="store_true", help="one line of JSON, for python -m bench.run")
    args = parser.parse_args()
    configure_logging("ERROR")
    report = run(args.commands)
    if args.json:
        emit_json({"figures": report.figures(), "markdown": report.markdown()})
    else:
        print(report.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
