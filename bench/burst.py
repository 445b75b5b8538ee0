"""Bursts of commands: how many /set messages sent at once each get their result, and whether the
inverter ends on the last one, with mosquitto's default queue and with a larger one.

    .venv/bin/python -m bench.burst

The bridge takes a command without waiting on any I/O (validation, then a queue where the latest command
for a setting replaces the one waiting), so a burst is limited by what the broker queues for a client
that is slower than the burst: `max_queued_messages` (1,000 by default) for each subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import aiomqtt

from bench.common import NO_DELAY, Mosquitto, bridge_in_process
from bridge.simulator import SimulatorState, run_simulator

SERIAL = "4512345600"
SIZES = (1_000, 5_000, 20_000)
BROKERS = {"mosquitto defaults": "", "max_queued_messages 0 (no limit)": "max_queued_messages 0\n"}


@dataclass(frozen=True, slots=True)
class Burst:
    broker: str
    commands: int
    results: int
    last_held: bool
    seconds: float


async def burst(commands: int, broker_extra: str, broker_name: str) -> Burst:
    with Mosquitto(broker_extra) as broker:
        async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
            config = {
                "cloud": {"base_url": simulator.base_url, "username": "demo", "password": "demo"},
                "mqtt": {"port": broker.port, "outbox_limit": 100_000},
                "polling": {
                    "runtime_seconds": 600,
                    "parameters_seconds": 3600,
                    "refresh_request_gap_seconds": 0,
                },
                "control": {"min_write_interval_seconds": 0},
            }
            async with bridge_in_process(config):
                results = 0
                async with aiomqtt.Client("127.0.0.1", broker.port, socket_options=NO_DELAY) as client:
                    await client.subscribe(f"eg4/{SERIAL}/battery/charge_current/result", qos=1)

                    async def count() -> None:
                        nonlocal results
                        async for _message in client.messages:
                            results += 1

                    counter = asyncio.create_task(count())
                    started = time.perf_counter()
                    for index in range(commands):
                        value = str(1 + index % 249)
                        await client.publish(f"eg4/{SERIAL}/battery/charge_current/set", value, qos=0)
                    last = value
                    seen = -1
                    while seen != results:  # until two seconds pass without a new result
                        seen = results
                        await asyncio.sleep(2)
                    seconds = time.perf_counter() - started - 2
                    counter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await counter
                held = simulator.state.value_of(SERIAL, "HOLD_LEAD_ACID_CHARGE_RATE") == last
                return Burst(broker_name, commands, results, held, seconds)


async def main() -> None:
    for name, extra in BROKERS.items():
        for size in SIZES:
            outcome = await burst(size, extra, name)
            print(
                f"| {outcome.broker} | {outcome.commands} | {outcome.results} | "
                f"{'yes' if outcome.last_held else 'no'} | {outcome.seconds:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    import argparse

    from bridge.service.logs import configure_logging

    argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__).parse_args()
    configure_logging("ERROR")
    asyncio.run(main())
