"""Memory: resident size after start (100 and 1,000 inverters, the bridge in its own process), and over many
accelerated refresh cycles with commands and broker restarts mixed in (the bridge in this process)."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

import aiomqtt

from bench.common import (
    NO_DELAY,
    PASSWORD,
    USERNAME,
    Mosquitto,
    bridge_in_process,
    bridge_process,
    resident_mib,
    simulator_process,
)
from bridge.service.logs import configure_logging

SOAK_INVERTERS = 10


@dataclass(frozen=True, slots=True)
class SoakReport:
    cycles: int
    commands: int
    restarts: int
    samples: list[tuple[int, float]]  # (cycle, MiB)

    @property
    def growth_mib(self) -> float:
        """From the end of the first tenth (warm-up) to the end."""
        warm = self.samples[max(1, len(self.samples) // 10)][1]
        return self.samples[-1][1] - warm

    def markdown(self) -> str:
        points = ", ".join(f"{cycle}: {mib:.1f}" for cycle, mib in self.samples)
        return (
            f"{self.cycles} full refresh cycles of {SOAK_INVERTERS} inverters, {self.commands} commands, "
            f"{self.restarts} broker restarts. Resident MiB by cycle: {points}. "
            f"Growth after warm-up: **{self.growth_mib:+.1f} MiB**.\n"
        )


def resident_after_start(inverters: int, broker_port: int) -> float:
    """RSS of `eg4-bridge run` once it has published its first full refresh."""
    with simulator_process(inverters) as base_url:
        config = {
            "cloud": {"base_url": base_url, "username": USERNAME, "password": PASSWORD, "concurrency": 8},
            "mqtt": {"port": broker_port, "base_topic": f"benchmem{inverters}"},
            "polling": {
                "runtime_seconds": 3600,
                "parameters_seconds": 86400,
                "refresh_request_gap_seconds": 0,
            },
        }
        with bridge_process(config) as pid:
            return resident_mib(pid)


async def soak(base_url: str, broker: Mosquitto, cycles: int, restarts: int) -> SoakReport:
    config = {
        "cloud": {"base_url": base_url, "username": USERNAME, "password": PASSWORD},
        "mqtt": {"port": broker.port, "base_topic": "benchsoak"},
        "polling": {
            "runtime_seconds": 3600,
            "parameters_seconds": 86400,
            "write_refresh_seconds": 0,
            "refresh_request_gap_seconds": 0,
        },
        "control": {"min_write_interval_seconds": 0},
    }
    samples: list[tuple[int, float]] = []
    commands = 0
    restart_every = max(1, cycles // (restarts + 1))
    async with bridge_in_process(config):
        samples.append((0, resident_mib()))
        for cycle in range(1, cycles + 1):
            await refresh_over_mqtt(broker.port)
            if cycle % 50 == 0:
                commands += await send_command(broker.port, str(60 + cycle % 100))
            if cycle % restart_every == 0 and cycle < cycles:
                broker.stop()
                await asyncio.sleep(0.3)
                broker.start()
            if cycle % max(1, cycles // 20) == 0:
                samples.append((cycle, resident_mib()))
    return SoakReport(cycles, commands, restarts, samples)


async def refresh_over_mqtt(port: int) -> None:
    """One full refresh, asked for on the bridge's request topic; waits out a broker restart, after which
    a request can reach the broker before the bridge is back (and is then asked again)."""
    while True:
        try:
            async with aiomqtt.Client("127.0.0.1", port, socket_options=NO_DELAY) as client:
                await client.subscribe("benchsoak/bridge/response/refresh", qos=1)
                await client.publish("benchsoak/bridge/request/refresh", "", qos=1)
                async with asyncio.timeout(10):
                    await anext(aiter(client.messages))
                return
        except (aiomqtt.MqttError, TimeoutError):
            await asyncio.sleep(0.2)


async def send_command(port: int, value: str) -> int:
    """One command through the broker; 1 if it was answered, 0 if the broker was not there."""
    try:
        async with aiomqtt.Client("127.0.0.1", port, socket_options=NO_DELAY) as client:
            await client.subscribe("benchsoak/4512345600/battery/charge_current/result", qos=1)
            await client.publish("benchsoak/4512345600/battery/charge_current/set", value, qos=1)
            async with asyncio.timeout(10):
                await anext(aiter(client.messages))
    except (aiomqtt.MqttError, TimeoutError):
        return 0
    return 1


def run(sizes: tuple[int, ...], cycles: int, restarts: int) -> tuple[dict[int, float], SoakReport]:
    with Mosquitto() as broker:
        at_start = {inverters: resident_after_start(inverters, broker.port) for inverters in sizes}
        with simulator_process(SOAK_INVERTERS) as base_url:
            report = asyncio.run(soak(base_url, broker, cycles, restarts))
    return at_start, report


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--inverters", type=int, default=100, help="inverters for the size after start")
    parser.add_argument("--cycles", type=int, default=50, help="accelerated refresh cycles of the soak")
    parser.add_argument("--restarts", type=int, default=2, help="broker restarts during the soak")
    args = parser.parse_args()
    configure_logging("ERROR")
    at_start, soak = run((args.inverters,), args.cycles, args.restarts)
    for inverters, mib in at_start.items():
        print(f"{inverters} inverters: {mib:.1f} MiB resident after start")
    print(soak.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
