"""Memory: resident size of `eg4-bridge run` once its first refresh is out (every inverter's discovery
config retained on the broker, as a subscriber of its own sees it), what dominates it (tracemalloc, the
bridge traced in this process), and resident size over many accelerated refresh cycles with commands and
broker restarts mixed in.

    .venv/bin/python -m bench.memory --part rss --inverters 100
    .venv/bin/python -m bench.memory --part tracemalloc --inverters 100
    .venv/bin/python -m bench.memory --part soak --cycles 50 --restarts 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tracemalloc
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from bench.common import (
    NO_DELAY,
    PASSWORD,
    USERNAME,
    Mosquitto,
    Observer,
    bridge_in_process,
    bridge_process,
    device_configs,
    emit_json,
    everything_out,
    peak_resident_mib,
    presence_answer,
    resident_mib,
    simulator_process,
)

SOAK_INVERTERS = 10
#: Frames kept per allocation: enough to reach from a library's allocation back to the bridge's code.
TRACE_FRAMES = 30
TOP = 10


def bridge_config(base_url: str, broker_port: int, base_topic: str) -> dict[str, Any]:
    return {
        "cloud": {"base_url": base_url, "username": USERNAME, "password": PASSWORD, "concurrency": 8},
        "mqtt": {"port": broker_port, "base_topic": base_topic},
        "polling": {"runtime_seconds": 3600, "parameters_seconds": 86400, "refresh_request_gap_seconds": 0},
    }


# -- resident size once the first refresh is out ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resident:
    inverters: int
    imports_mib: float  # a process that has imported the daemon's modules and nothing more
    mib: float
    peak_mib: float  # the highest it was, during start and the first refresh
    discovery_bytes: list[int]

    def figures(self) -> dict[str, float]:
        return {"rss_mib": self.mib, "peak_mib": self.peak_mib, "imports_rss_mib": self.imports_mib}


#: The resident size of an interpreter that has imported what `eg4-bridge run` imports, and nothing more.
IMPORTS_ONLY = (
    "import bridge.service.cli, bridge.service.daemon, bridge.service.config_file\n"
    "from pathlib import Path\n"
    "print(next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmRSS')))"
)


def imports_only_mib() -> float:
    done = subprocess.run([sys.executable, "-c", IMPORTS_ONLY], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[1]) / 1024


def resident_after_start(inverters: int) -> Resident:
    """RSS of `eg4-bridge run` once its first full refresh is out: healthy (first refresh done, broker
    connected), and everything it had queued received by a subscriber of our own (`everything_out`)."""
    with Mosquitto() as broker, simulator_process(inverters) as base_url:
        config = bridge_config(base_url, broker.port, f"benchmem{inverters}")
        base_topic = config["mqtt"]["base_topic"]
        filters = ["homeassistant/device/+/config", presence_answer(base_topic)]
        with bridge_process(config) as pid, Observer(broker.port, filters) as observer:
            seen = asyncio.run(everything_out(observer, broker.port, base_topic))
            return Resident(
                inverters,
                imports_only_mib(),
                resident_mib(pid),
                peak_resident_mib(pid),
                sorted(device_configs(seen).values()),
            )


# -- what dominates: tracemalloc ------------------------------------------------------------------------


Row = tuple[float, int, str, str]  # MiB, blocks, allocated at, the nearest line of bridge/ that led there


@dataclass(frozen=True, slots=True)
class Traced:
    inverters: int
    imports_mib: float  # live allocations once the bridge's modules are imported, before it starts
    current_mib: float  # once the first refresh is out
    peak_mib: float
    everything: list[Row]
    added: list[Row]  # since the imports

    def markdown(self) -> str:
        def table(rows: list[Row]) -> list[str]:
            return [
                "| MiB | blocks | allocated at | reached from (nearest line of `bridge/`) |",
                "|---|---|---|---|",
                *(f"| {mib:.2f} | {blocks} | `{site}` | `{via}` |" for mib, blocks, site, via in rows),
            ]

        return (
            "\n".join(
                [
                    f"tracemalloc, {self.inverters} inverters, the bridge traced in a process of its own "
                    f"from its first import ({TRACE_FRAMES} frames): live Python allocations "
                    f"**{self.imports_mib:.1f} MiB** once its modules are imported, "
                    f"**{self.current_mib:.1f} MiB** once the first refresh is out (at most "
                    f"{self.peak_mib:.1f} MiB on the way).",
                    "",
                    f"Top {TOP} of everything live once the first refresh is out (imports included; "
                    "`<frozen importlib...>` is code and module objects):",
                    "",
                    *table(self.everything),
                    "",
                    f"Top {TOP} of what start and the first refresh added to the imports:",
                    "",
                    *table(self.added),
                ]
            )
            + "\n"
        )


def _short(filename: str, roots: tuple[str, ...]) -> str:
    for root in roots:
        if filename.startswith(root):
            return filename[len(root) :].lstrip("/")
    return filename


def grouped(snapshot: tracemalloc.Snapshot) -> dict[tuple[str, str], tuple[int, int]]:
    """Live allocations by where they were made and the nearest line of the bridge's own code on the way
    there: (bytes, blocks)."""
    import json

    import aiohttp

    import bridge

    bridge_dir = str(Path(bridge.__file__).resolve().parent)
    roots = (
        str(Path(bridge_dir).parent),
        str(Path(aiohttp.__file__).parent.parent),
        str(Path(json.__file__).parent.parent),
    )
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for statistic in snapshot.statistics("traceback"):
        frames = list(statistic.traceback)  # oldest first
        site = f"{_short(frames[-1].filename, roots)}:{frames[-1].lineno}"
        via = next(
            (
                f"{_short(frame.filename, roots)}:{frame.lineno}"
                for frame in reversed(frames)
                if frame.filename.startswith(bridge_dir)
            ),
            "(none: imported by the benchmark first, or beyond the frames kept)",
        )
        entry = groups[site, via]
        entry[0] += statistic.size
        entry[1] += statistic.count
    return {key: (size, count) for key, (size, count) in groups.items()}


def top_rows(groups: dict[tuple[str, str], tuple[int, int]], top: int = TOP) -> list[Row]:
    mib = 1024 * 1024
    ordered = sorted(groups.items(), key=lambda item: -item[1][0])[:top]
    return [(size / mib, count, site, via) for (site, via), (size, count) in ordered]


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__)]
    )


async def _traced(inverters: int, base_url: str, broker_port: int) -> Traced:
    import bridge.service.config_file
    import bridge.service.daemon  # noqa: F401  (the daemon's modules, imported before the baseline)

    imports = _snapshot()
    imports_bytes = tracemalloc.get_traced_memory()[0]
    base_topic = f"benchtrace{inverters}"
    async with bridge_in_process(bridge_config(base_url, broker_port, base_topic)):
        with Observer(broker_port, [presence_answer(base_topic)]) as observer:
            await everything_out(observer, broker_port, base_topic)
        current, peak = tracemalloc.get_traced_memory()
        now = _snapshot()
    tracemalloc.stop()  # what follows is the benchmark's own work
    before, after = grouped(imports), grouped(now)
    added = {
        key: (size - before.get(key, (0, 0))[0], count - before.get(key, (0, 0))[1])
        for key, (size, count) in after.items()
    }
    mib = 1024 * 1024
    return Traced(inverters, imports_bytes / mib, current / mib, peak / mib, top_rows(after), top_rows(added))


def traced(inverters: int) -> Traced:
    with Mosquitto() as broker, simulator_process(inverters) as base_url:
        return asyncio.run(_traced(inverters, base_url, broker.port))


# -- soak -----------------------------------------------------------------------------------------------


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
            f"{self.restarts} broker restarts, the bridge in the benchmark's process. Resident MiB by "
            f"cycle: {points}. Growth after warm-up: **{self.growth_mib:+.1f} MiB**.\n"
        )


async def _soak(base_url: str, broker: Mosquitto, cycles: int, restarts: int) -> SoakReport:
    config = bridge_config(base_url, broker.port, "benchsoak")
    config["polling"]["write_refresh_seconds"] = 0
    config["control"] = {"min_write_interval_seconds": 0}
    config["cloud"]["concurrency"] = 3
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


def soak(cycles: int, restarts: int) -> SoakReport:
    with Mosquitto() as broker, simulator_process(SOAK_INVERTERS) as base_url:
        return asyncio.run(_soak(base_url, broker, cycles, restarts))


# -- alone ----------------------------------------------------------------------------------------------


def _trace_from_the_start() -> None:
    """tracemalloc from the interpreter's start, so that imports count: this module again, under -X."""
    if not tracemalloc.is_tracing():
        os.execv(
            sys.executable,
            [sys.executable, "-X", f"tracemalloc={TRACE_FRAMES}", "-m", "bench.memory", *sys.argv[1:]],
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument(
        "--part",
        choices=("rss", "tracemalloc", "soak"),
        action="append",
        help="what to measure (repeatable; all three if not given)",
    )
    parser.add_argument("--inverters", type=int, default=100, help="inverters for the size after start")
    parser.add_argument("--cycles", type=int, default=50, help="accelerated refresh cycles of the soak")
    parser.add_argument("--restarts", type=int, default=2, help="broker restarts during the soak")
    parser.add_argument("--json", action="store_true", help="one line of JSON, for python -m bench.run")
    args = parser.parse_args()
    parts = args.part or ["rss", "tracemalloc", "soak"]
    if "tracemalloc" in parts:
        _trace_from_the_start()
    from bridge.service.logs import configure_logging

    configure_logging("ERROR")
    result: dict[str, Any] = {"figures": {}}
    if "rss" in parts:
        resident = resident_after_start(args.inverters)
        result["figures"] |= resident.figures()
        result["resident"] = asdict(resident)
        if not args.json:
            print(
                f"{args.inverters} inverters: {resident.mib:.1f} MiB resident once the first refresh is out "
                f"(at most {resident.peak_mib:.1f} MiB before; {resident.imports_mib:.1f} MiB for an "
                "interpreter that has imported the daemon's modules and nothing more)"
            )
    if "tracemalloc" in parts:
        trace = traced(args.inverters)
        result["traced"] = asdict(trace)
        result["traced_markdown"] = trace.markdown()
        if not args.json:
            print(trace.markdown())
    if "soak" in parts:
        report = soak(args.cycles, args.restarts)
        result["figures"]["soak_growth_mib"] = report.growth_mib
        result["soak"] = asdict(report)
        result["soak_markdown"] = report.markdown()
        if not args.json:
            print(report.markdown())
    if args.json:
        emit_json(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
