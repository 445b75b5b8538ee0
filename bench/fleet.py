"""Fleet refresh: how long one full refresh of N inverters takes against a cloud answering in 50 ms.

A full refresh is one runtime read, three parameter windows, one energy read and one battery read per
inverter, so with at most C requests in flight the floor is ceil(6 * N / C) * 50 ms. The bridge runs in
this process (its CPU time is what `time.process_time` counts); the simulator runs in its own process and
counts the requests it served.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from dataclasses import dataclass

from bench.common import (
    PASSWORD,
    USERNAME,
    Mosquitto,
    bridge_in_process,
    refresh_probe,
    requests_served,
    simulator_process,
)
from bridge.service.logs import configure_logging

CLOUD_LATENCY_MS = 50.0
#: Runtime, the three parameter windows, the energy counters and the battery modules.
REQUESTS_PER_INVERTER = 6


@dataclass(frozen=True, slots=True)
class FleetRow:
    inverters: int
    concurrency: int
    cycles: int
    cycle_seconds: float
    floor_seconds: float
    requests_per_cycle: float
    messages_per_cycle: float
    cpu_seconds_per_cycle: float

    @property
    def over_floor(self) -> float:
        return self.cycle_seconds / self.floor_seconds

    def markdown(self) -> str:
        return (
            f"| {self.inverters} | {self.concurrency} | {self.cycles} | {self.cycle_seconds:.3f} | "
            f"{self.floor_seconds:.3f} | **{self.over_floor:.3f}x** | {self.requests_per_cycle:.0f} | "
            f"{REQUESTS_PER_INVERTER * self.inverters} | {self.messages_per_cycle:.0f} | "
            f"{self.cpu_seconds_per_cycle:.3f} | "
            f"{100 * self.cpu_seconds_per_cycle / self.cycle_seconds:.1f} % |"
        )


HEADER = (
    "| inverters | concurrency | cycles | cycle s (median) | floor s | cycle / floor | requests per cycle | "
    "needed | MQTT messages per cycle | CPU s per cycle | CPU share |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def floor_seconds(inverters: int, concurrency: int) -> float:
    return math.ceil(REQUESTS_PER_INVERTER * inverters / concurrency) * CLOUD_LATENCY_MS / 1000


async def measure(base_url: str, broker_port: int, inverters: int, concurrency: int, cycles: int) -> FleetRow:
    base_topic = f"benchfleet{inverters}x{concurrency}"
    config = {
        "cloud": {
            "base_url": base_url,
            "username": USERNAME,
            "password": PASSWORD,
            "concurrency": concurrency,
        },
        "mqtt": {"port": broker_port, "base_topic": base_topic},
        "polling": {"runtime_seconds": 3600, "parameters_seconds": 86400, "refresh_request_gap_seconds": 0},
    }
    durations, cpu, requests, messages = [], [], [], []
    async with bridge_in_process(config), refresh_probe(broker_port, base_topic) as probe:
        for _ in range(cycles):
            served = requests_served(base_url)
            started_wall, started_cpu = time.perf_counter(), time.process_time()
            messages.append(await probe.refresh())
            durations.append(time.perf_counter() - started_wall)
            cpu.append(time.process_time() - started_cpu)
            requests.append(requests_served(base_url) - served)
    return FleetRow(
        inverters=inverters,
        concurrency=concurrency,
        cycles=cycles,
        cycle_seconds=statistics.median(durations),
        floor_seconds=floor_seconds(inverters, concurrency),
        requests_per_cycle=statistics.mean(requests),
        messages_per_cycle=statistics.mean(messages),
        cpu_seconds_per_cycle=statistics.median(cpu),
    )


def run(sizes: tuple[tuple[int, int, int], ...]) -> list[FleetRow]:
    """`sizes`: (inverters, concurrency, cycles) for each row."""
    rows = []
    with Mosquitto() as broker:
        for inverters, concurrency, cycles in sizes:
            with simulator_process(inverters, latency_ms=CLOUD_LATENCY_MS) as base_url:
                rows.append(asyncio.run(measure(base_url, broker.port, inverters, concurrency, cycles)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--inverters", type=int, default=10, help="simulated inverters")
    parser.add_argument("--concurrency", type=int, default=3, help="cloud requests at once")
    parser.add_argument("--cycles", type=int, default=3, help="refresh cycles")
    args = parser.parse_args()
    configure_logging("ERROR")
    rows = run(((args.inverters, args.concurrency, args.cycles),))
    print(HEADER + "\n".join(row.markdown() for row in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
