"""Fleet refresh: one full refresh of N inverters against a cloud answering in 50 ms, asked for over MQTT,
with what it costs the bridge against a floor measured in the same run.

A full refresh is one runtime read, three parameter windows, one energy read and one battery read per
inverter (quick charge's state comes with the runtime answer), so with at most C requests in flight it
cannot take less than ceil(6 * N / C) * 50 ms. The bridge runs in this process, so that
`time.process_time` counts its CPU (and cProfile can profile it); the simulator, the broker and a
subscriber that records every message the bridge publishes (`python -m bench.observer`) run in processes
of their own, so their work is not counted. Measured per refresh cycle:

- wall time, against the formula above and against the same requests sent by a bare aiohttp client;
- CPU time of the bridge (from the request for a refresh to its answer, plus 0.2 s for the last
  acknowledgements), against the library floor: the same HTTP requests, path by path, through a bare aiohttp
  client against the same simulator with the same requests in flight, plus the same MQTT messages (count,
  payload sizes, QoS and retain flags, as the subscriber saw them) through a bare aiomqtt client to the same
  broker, in batches of ten as the bridge sends them;
- messages, bytes, and the bytes of discovery configs published per cycle; the size of each inverter's
  retained discovery config as a new subscriber receives it;
- with `--profile`, one more cycle under cProfile, timed in CPU time (`time.process_time`).

    .venv/bin/python -m bench.fleet --inverters 100 --concurrency 8 --cycles 3 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import math
import pstats
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from bench.common import (
    NO_DELAY,
    PASSWORD,
    USERNAME,
    Mosquitto,
    Observed,
    Observer,
    bridge_in_process,
    device_configs,
    emit_json,
    everything_out,
    is_device_config,
    refresh_trigger,
    requests_by_path,
    serials,
    simulator_process,
)

CLOUD_LATENCY_MS = 50.0
#: Runtime, the three parameter windows, the energy counters and the battery modules.
REQUESTS_PER_INVERTER = 6
DISCOVERY_PREFIX = "homeassistant"
#: After a refresh is answered, the bridge may still take acknowledgements of what it published.
SETTLE_SECONDS = 0.2
#: The cloud's three parameter windows (start register, registers), as the bridge reads them.
PARAMETER_WINDOWS = ((0, 127), (127, 127), (240, 127))
#: Messages published at once by the MQTT floor, as the bridge does (aiomqtt warns above ten).
MQTT_BATCH = 10


@dataclass(frozen=True, slots=True)
class FleetRow:
    inverters: int
    concurrency: int
    cycles: int
    cycle_seconds: float  # median over the cycles
    requests_per_cycle: float
    messages_per_cycle: float
    mqtt_bytes_per_cycle: float
    discovery_bytes_per_cycle: float
    #: The retained config of each inverter, as a new subscriber receives it.
    discovery_bytes: list[int]
    retained_bytes: int  # everything retained for this bridge, as a new subscriber receives it
    cpu_seconds_per_cycle: float  # the bridge's, median
    library_seconds: float  # wall time of the same requests through a bare aiohttp client, median
    http_floor_cpu: float  # median
    mqtt_floor_cpu: float  # median
    profile: dict[str, Any] | None = field(default=None)

    @property
    def floor_seconds(self) -> float:
        return floor_seconds(self.inverters, self.concurrency)

    @property
    def over_floor(self) -> float:
        return self.cycle_seconds / self.floor_seconds

    @property
    def library_cpu(self) -> float:
        return self.http_floor_cpu + self.mqtt_floor_cpu

    @property
    def cpu_over_floor(self) -> float:
        return self.cpu_seconds_per_cycle / self.library_cpu

    def figures(self) -> dict[str, float]:
        """What bench.run repeats and compares."""
        return {
            "cycle_s": self.cycle_seconds,
            "cycle_over_floor": self.over_floor,
            "cpu_s": self.cpu_seconds_per_cycle,
            "floor_cpu_s": self.library_cpu,
            "http_floor_cpu_s": self.http_floor_cpu,
            "mqtt_floor_cpu_s": self.mqtt_floor_cpu,
            "cpu_over_floor": self.cpu_over_floor,
            "messages": self.messages_per_cycle,
            "mqtt_bytes": self.mqtt_bytes_per_cycle,
            "discovery_bytes_per_cycle": self.discovery_bytes_per_cycle,
            "discovery_bytes_max": float(max(self.discovery_bytes)),
            "discovery_bytes_median": float(statistics.median(self.discovery_bytes)),
            "requests": self.requests_per_cycle,
        }

    def markdown(self) -> str:
        return (
            f"| {self.inverters} | {self.concurrency} | {self.cycles} | {self.cycle_seconds:.3f} | "
            f"{self.floor_seconds:.3f} | **{self.over_floor:.2f}x** | {self.library_seconds:.3f} | "
            f"{self.requests_per_cycle:.0f} | {self.messages_per_cycle:.0f} | "
            f"{self.cpu_seconds_per_cycle:.3f} | {self.library_cpu:.3f} | **{self.cpu_over_floor:.2f}x** |"
        )


HEADER = (
    "| inverters | concurrency | cycles | cycle s (median) | floor s | cycle / floor | bare aiohttp s | "
    "requests per cycle | MQTT messages per cycle | bridge CPU s per cycle | library floor CPU s | "
    "CPU / floor |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def floor_seconds(inverters: int, concurrency: int) -> float:
    return math.ceil(REQUESTS_PER_INVERTER * inverters / concurrency) * CLOUD_LATENCY_MS / 1000


# -- the library floor --------------------------------------------------------------------------------


def floor_requests(counts: dict[str, int], inverters: int) -> list[tuple[str, dict[str, str]]]:
    """The requests a cycle made, path by path, with the forms the bridge sends on each path."""
    inverter_serials = serials(inverters)
    requests = []
    for path, count in sorted(counts.items()):
        for index in range(count):
            serial = inverter_serials[index % inverters]
            if path.endswith("remoteRead/read"):
                start, points = PARAMETER_WINDOWS[(index // inverters) % len(PARAMETER_WINDOWS)]
                form = {
                    "inverterSn": serial,
                    "startRegister": str(start),
                    "pointNumber": str(points),
                    "autoRetry": "true",
                }
            elif path.endswith("/getStatusInfo"):
                form = {"inverterSn": serial}
            else:
                form = {"serialNum": serial}
            requests.append((path, form))
    return requests


async def http_floor(
    base_url: str, requests: list[tuple[str, dict[str, str]]], concurrency: int
) -> tuple[float, float]:
    """CPU and wall seconds for `requests` through a bare aiohttp session, at most `concurrency` at once,
    each answer read and its JSON decoded."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await session.post(f"{base_url}/WManage/api/login", data={"account": USERNAME, "password": PASSWORD})
        limit = asyncio.Semaphore(concurrency)

        async def one(path: str, form: dict[str, str]) -> None:
            async with (
                limit,
                session.post(base_url + path, data=form, headers={"Accept": "application/json"}) as answer,
            ):
                json.loads(await answer.read())

        started_wall, started_cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(path, form) for path, form in requests))
        return time.process_time() - started_cpu, time.perf_counter() - started_wall


async def mqtt_floor(port: int, messages: list[Observed]) -> float:
    """CPU seconds to publish `messages` (their sizes, QoS and retain flags; under `floor/`) through a bare
    aiomqtt client, MQTT 5 as the bridge speaks it, ten at a time, ending with one acknowledged message."""
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, socket_options=NO_DELAY
    ) as client:
        started = time.process_time()
        for offset in range(0, len(messages), MQTT_BATCH):
            await asyncio.gather(
                *(
                    client.publish(f"floor/{m.topic}", "x" * m.size, qos=m.qos, retain=m.retain)
                    for m in messages[offset : offset + MQTT_BATCH]
                )
            )
        await client.publish("floor/done", "", qos=1)
        return time.process_time() - started


# -- the profile ----------------------------------------------------------------------------------------

#: The event loop's own frames: each encloses everything that runs in it, so they top any cumulative list.
PLUMBING = ("asyncio/base_events.py", "asyncio/events.py", "selectors.py", "asyncio/runners.py")
PLUMBING_BUILTINS = ("<method 'run' of '_contextvars.Context' objects>", "<method 'poll' of 'select.epoll'")


def _where(key: tuple[str, int, str], roots: tuple[str, ...]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    for root in roots:
        if filename.startswith(root):
            filename = filename[len(root) :].lstrip("/")
            break
    return f"{filename}:{line}({name})"


def profile_rows(profiler: cProfile.Profile, top: int = 15) -> dict[str, Any]:
    """The top `top` functions by cumulative and by own time, event-loop plumbing left out."""
    import bridge

    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    site = str(Path(aiohttp.__file__).parent.parent)
    stdlib = str(Path(json.__file__).parent.parent)
    roots = (str(Path(bridge.__file__).parent.parent), site, stdlib)
    total = sum(entry[2] for entry in stats.values())
    rows = []
    for key, (_cc, calls, own, cumulative, _callers) in stats.items():
        if key[0].endswith(PLUMBING) or key[2].startswith(PLUMBING_BUILTINS):
            continue
        rows.append({"where": _where(key, roots), "calls": calls, "own": own, "cumulative": cumulative})
    return {
        "total_seconds": total,
        "cumulative": sorted(rows, key=lambda row: -row["cumulative"])[:top],
        "own": sorted(rows, key=lambda row: -row["own"])[:top],
    }


def profile_markdown(profile: dict[str, Any]) -> str:
    lines = []
    for order, title in (("cumulative", "cumulative time"), ("own", "own time")):
        lines += [
            f"Top 15 by {title} (of {profile['total_seconds']:.3f} s profiled):",
            "",
            "| function | calls | own s | cumulative s |",
            "|---|---|---|---|",
            *(
                f"| `{row['where']}` | {row['calls']} | {row['own']:.3f} | {row['cumulative']:.3f} |"
                for row in profile[order]
            ),
            "",
        ]
    return "\n".join(lines)


# -- the bridge -----------------------------------------------------------------------------------------


def cycles_of(seen: list[Observed], base_topic: str) -> list[list[Observed]]:
    """The messages of each refresh, split at each answer (the request itself left out)."""
    cycles: list[list[Observed]] = [[]]
    for message in seen:
        if message.topic == f"{base_topic}/bridge/response/refresh":
            cycles.append([])
        elif not message.topic.startswith(f"{base_topic}/bridge/request/"):
            cycles[-1].append(message)
    return cycles[:-1]


@dataclass
class _Cycles:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    requests: list[dict[str, int]] = field(default_factory=list)
    profile: dict[str, Any] | None = None


async def _bridge_cycles(base_url: str, port: int, base_topic: str, cycles: int, *, profile: bool) -> _Cycles:
    measured = _Cycles()
    async with refresh_trigger(port, base_topic) as trigger:
        for _ in range(cycles):
            served = requests_by_path(base_url)
            started_wall, started_cpu = time.perf_counter(), time.process_time()
            await trigger.refresh()
            measured.wall.append(time.perf_counter() - started_wall)
            await asyncio.sleep(SETTLE_SECONDS)
            measured.cpu.append(time.process_time() - started_cpu)
            now = requests_by_path(base_url)
            measured.requests.append({path: now[path] - served.get(path, 0) for path in now})
        if profile:
            profiler = cProfile.Profile(time.process_time)  # CPU time, as the figures above
            profiler.enable()
            await trigger.refresh()
            await asyncio.sleep(SETTLE_SECONDS)
            profiler.disable()
            measured.profile = profile_rows(profiler)
    return measured


async def measure(
    base_url: str, broker_port: int, inverters: int, concurrency: int, cycles: int, *, profile: bool = False
) -> FleetRow:
    base_topic = f"benchfleet{inverters}x{concurrency}"
    config = {
        "cloud": {
            "base_url": base_url,
            "username": USERNAME,
            "password": PASSWORD,
            "concurrency": concurrency,
        },
        "mqtt": {"port": broker_port, "base_topic": base_topic, "discovery_prefix": DISCOVERY_PREFIX},
        "polling": {"runtime_seconds": 3600, "parameters_seconds": 86400, "refresh_request_gap_seconds": 0},
    }
    async with bridge_in_process(config):
        with Observer(broker_port, [f"{base_topic}/#", f"{DISCOVERY_PREFIX}/#"]) as observer:
            snapshot = await everything_out(observer, broker_port, base_topic)
            measured = await _bridge_cycles(base_url, broker_port, base_topic, cycles, profile=profile)
            answers = cycles + (1 if profile else 0)
            seen = await observer.wait_for(lambda seen: len(cycles_of(seen, base_topic)) >= answers)
    published = cycles_of(seen[len(snapshot) :], base_topic)[:cycles]
    http_cpu, http_wall, mqtt_cpu = [], [], []
    for index in range(cycles):
        cpu, wall = await http_floor(
            base_url, floor_requests(measured.requests[index], inverters), concurrency
        )
        http_cpu.append(cpu)
        http_wall.append(wall)
        mqtt_cpu.append(await mqtt_floor(broker_port, published[index]))
    return FleetRow(
        inverters=inverters,
        concurrency=concurrency,
        cycles=cycles,
        cycle_seconds=statistics.median(measured.wall),
        requests_per_cycle=statistics.mean(sum(counts.values()) for counts in measured.requests),
        messages_per_cycle=statistics.mean(len(cycle) for cycle in published),
        mqtt_bytes_per_cycle=statistics.mean(sum(m.size for m in cycle) for cycle in published),
        discovery_bytes_per_cycle=statistics.mean(
            sum(m.size for m in cycle if m.topic.startswith(f"{DISCOVERY_PREFIX}/")) for cycle in published
        ),
        discovery_bytes=sorted(device_configs(snapshot, DISCOVERY_PREFIX).values()),
        retained_bytes=sum(m.size for m in snapshot if m.retain and not is_device_config(m.topic)),
        cpu_seconds_per_cycle=statistics.median(measured.cpu),
        library_seconds=statistics.median(http_wall),
        http_floor_cpu=statistics.median(http_cpu),
        mqtt_floor_cpu=statistics.median(mqtt_cpu),
        profile=measured.profile,
    )


def run(sizes: tuple[tuple[int, int, int], ...], *, profile: bool = False) -> list[FleetRow]:
    """`sizes`: (inverters, concurrency, cycles) for each row; `profile`: one more cycle of each under
    cProfile."""
    rows = []
    with Mosquitto() as broker:
        for inverters, concurrency, cycles in sizes:
            with simulator_process(inverters, latency_ms=CLOUD_LATENCY_MS) as base_url:
                rows.append(
                    asyncio.run(
                        measure(base_url, broker.port, inverters, concurrency, cycles, profile=profile)
                    )
                )
    return rows


def message_kinds(seen: list[Observed]) -> Counter[str]:
    """Messages by kind of topic (its last level), for a reader wondering where the bytes go."""
    return Counter(message.topic.rsplit("/", 1)[-1] for message in seen)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--inverters", type=int, default=10, help="simulated inverters")
    parser.add_argument("--concurrency", type=int, default=3, help="cloud requests at once")
    parser.add_argument("--cycles", type=int, default=3, help="refresh cycles")
    parser.add_argument("--profile", action="store_true", help="one more cycle under cProfile")
    parser.add_argument("--json", action="store_true", help="one line of JSON, for python -m bench.run")
    args = parser.parse_args()
    from bridge.service.logs import configure_logging

    configure_logging("ERROR")
    (row,) = run(((args.inverters, args.concurrency, args.cycles),), profile=args.profile)
    if args.json:
        emit_json({"figures": row.figures(), "row": asdict(row)})
        return 0
    print(HEADER + row.markdown())
    print(
        f"\nDiscovery: {max(row.discovery_bytes)} bytes per inverter at most (median "
        f"{statistics.median(row.discovery_bytes):.0f}), {row.discovery_bytes_per_cycle:.0f} bytes per "
        f"refresh cycle; MQTT bytes per cycle {row.mqtt_bytes_per_cycle:.0f}.\n"
    )
    if row.profile:
        print(profile_markdown(row.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
