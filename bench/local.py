"""Local control against the cloud: command latency (`/set` to confirmed result) through the dongle and
through the cloud side by side, and a fleet refresh over dongles, each against its floor measured in the
same run.

The simulator's cloud answers every request after `CLOUD_LATENCY_MS` (the real cloud takes from half a second
to several seconds to answer a write: this is kind to it); its dongles after `DONGLE_LATENCY_MS`. Floors:

- a command through the cloud: two MQTT hops + one HTTP write + one HTTP one-register read;
- a command through the dongle: two MQTT hops + one register write + one register read, sent as raw frames
  on a socket of the benchmark's own (the command writes the charge current, which fills its register
  alone: the bridge reads a register before writing only where a flag or schedule byte shares it);
- a command through a Modbus TCP adapter: two MQTT hops + a write-single and a read of one register as
  raw Modbus TCP on a socket of the benchmark's own;
- a fleet refresh over N dongles: the same register reads the bridge makes for one inverter (runtime,
  energy, settings), sent as raw frames over one socket per dongle, all dongles at once.

    .venv/bin/python -m bench.local            # quick
    .venv/bin/python -m bench.local --full
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import sys
import time
from dataclasses import dataclass

from bench.common import (
    PASSWORD,
    USERNAME,
    Mosquitto,
    bridge_process,
    emit_json,
    free_port,
    percentile,
    refresh_trigger,
    serials,
)
from bench.common import simulator_process as simulator
from bench.latency import (
    READ_BACK_FORM,
    READ_PATH,
    WRITE_PATH,
    bridge_commands,
    command_figures,
    mqtt_round_trips,
    timed_commands,
    timed_posts,
    write_forms,
)
from bridge.transports.local import frames, registers
from bridge.transports.local.frames import ModbusFunction

CLOUD_LATENCY_MS = 300.0
DONGLE_LATENCY_MS = 20.0
SERIAL = "4512345600"
SHARES = (0.5, 0.95, 0.99)


def dongle_serial(serial: str) -> str:
    """As the simulator names its dongles (`GET /_sim/devices` says the same)."""
    return f"BA{serial[-8:]}"


@dataclass(frozen=True, slots=True)
class Way:
    name: str
    result_ms: list[float]
    floor_ms: list[float]

    def row(self) -> str:
        cells = " | ".join(
            f"{percentile(self.result_ms, share):.1f} / {percentile(self.floor_ms, share):.1f} "
            f"(**{percentile(self.result_ms, share) / percentile(self.floor_ms, share):.2f}x**)"
            for share in SHARES
        )
        return f"| {self.name} | {cells} |"


@dataclass(frozen=True, slots=True)
class FleetRow:
    inverters: int
    cycles: int
    cycle_seconds: float
    floor_seconds: float

    def row(self) -> str:
        ratio = self.cycle_seconds / self.floor_seconds
        return (
            f"| {self.inverters} | {self.cycles} | {self.cycle_seconds:.3f} | {self.floor_seconds:.3f} | "
            f"**{ratio:.2f}x** |"
        )


@dataclass(frozen=True, slots=True)
class LocalReport:
    commands: int
    ways: tuple[Way, ...]
    fleet: list[FleetRow]
    cloud_latency_ms: float

    def figures(self) -> dict[str, float]:
        figures: dict[str, float] = {}
        for way, name in zip(self.ways, ("cloud", "dongle", "adapter"), strict=True):
            figures |= {
                f"{name}_{key}": value for key, value in command_figures(way.result_ms, way.floor_ms).items()
            }
        for row in self.fleet:
            figures[f"fleet{row.inverters}_over_floor"] = row.cycle_seconds / row.floor_seconds
        return figures

    def markdown(self) -> str:
        lines = [
            f"Cloud answering after {self.cloud_latency_ms:g} ms, dongles after {DONGLE_LATENCY_MS:g} ms; "
            f"{self.commands} commands each way, one at a time.",
            "",
            "| way | p50 ms: bridge / floor | p95 ms | p99 ms |",
            "|---|---|---|---|",
            *(way.row() for way in self.ways),
            "",
            "Fleet refresh over dongles (every inverter's runtime, energy counters and settings; one dongle",
            "per inverter, all read at once):",
            "",
            "| inverters | cycles | cycle s (median) | floor s | cycle / floor |",
            "|---|---|---|---|---|",
            *(row.row() for row in self.fleet),
        ]
        return "\n".join(lines) + "\n"


# -- the floors: raw frames on a socket of our own ------------------------------------------------------


class RawDongle:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawDongle:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def exchange(self, request: bytes) -> frames.Frame:
        self._writer.write(request)
        head = await self._reader.readexactly(6)
        (length,) = struct.unpack_from("<H", head, 4)
        return frames.decode(head + await self._reader.readexactly(length))

    def close(self) -> None:
        self._writer.close()


async def modbus_floor(port: int, count: int) -> list[float]:
    """A register written (function 6) and read back (function 3) as raw Modbus TCP on a socket of our own."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    times = []
    try:
        for index in range(count):
            started = time.perf_counter()
            for transaction, pdu in ((2 * index, struct.pack(">BHH", 6, 101, 40 + index % 50)),
                                     (2 * index + 1, struct.pack(">BHH", 3, 101, 1))):  # fmt: skip
                writer.write(struct.pack(">HHHB", transaction % 65536, 0, len(pdu) + 1, 1) + pdu)
                head = await reader.readexactly(7)
                await reader.readexactly(struct.unpack(">H", head[4:6])[0] - 1)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        writer.close()
    return times


async def dongle_floor(port: int, count: int) -> list[float]:
    """Per command: one register write and one register read, timed together."""
    dongle = await RawDongle.open(port)
    times = []
    try:
        for index in range(count):
            started = time.perf_counter()
            await dongle.exchange(
                frames.write_single_request(dongle_serial(SERIAL), SERIAL, 102, 100 + index % 2)
            )
            await dongle.exchange(
                frames.read_request(dongle_serial(SERIAL), SERIAL, ModbusFunction.READ_HOLDING, 102, 1)
            )
            times.append((time.perf_counter() - started) * 1000)
    finally:
        dongle.close()
    return times


def refresh_reads(serial: str) -> list[bytes]:
    """The register reads of one inverter's full refresh, as the bridge makes them."""
    dongle = dongle_serial(serial)
    reads = []
    for function, wanted, size in (
        (
            ModbusFunction.READ_INPUT,
            registers.input_registers(registers.RUNTIME_FIELDS),
            registers.BLOCK,
        ),
        (
            ModbusFunction.READ_INPUT,
            registers.input_registers(registers.ENERGY_FIELDS),
            registers.BLOCK,
        ),
        (
            ModbusFunction.READ_HOLDING,
            registers.holding_registers(tuple(registers.HOLDING)),
            registers.BLOCK,
        ),
    ):
        reads += [
            frames.read_request(dongle, serial, function, start, n)
            for start, n in registers.blocks(wanted, size)
        ]
    return reads


async def fleet_floor(port: int, inverters: int) -> float:
    async def one(serial: str) -> None:
        dongle = await RawDongle.open(port)
        try:
            for request in refresh_reads(serial):
                await dongle.exchange(request)
        finally:
            dongle.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(serial) for serial in serials(inverters)))
    return time.perf_counter() - started


# -- the bridge -------------------------------------------------------------------------------------


def local_config(port: int, dongle_port: int, base_topic: str, inverters: list[str]) -> dict[str, object]:
    return {
        "transport": "local",
        "mqtt": {"port": port, "base_topic": base_topic},
        "polling": {"runtime_seconds": 3600, "parameters_seconds": 86400, "refresh_request_gap_seconds": 0},
        "control": {"min_write_interval_seconds": 0},
        "inverters": {
            serial: {"dongle": {"host": "127.0.0.1", "port": dongle_port, "serial": dongle_serial(serial)}}
            for serial in inverters
        },
    }


async def refresh_cycles(port: int, base_topic: str, cycles: int) -> list[float]:
    times = []
    async with refresh_trigger(port, base_topic) as trigger:
        for _ in range(cycles):
            started = time.perf_counter()
            await trigger.refresh()
            times.append(time.perf_counter() - started)
    return times


def run(
    commands: int, fleet_sizes: tuple[int, ...], cycles: int = 3, cloud_latency_ms: float = CLOUD_LATENCY_MS
) -> LocalReport:
    dongle_port, modbus_port = free_port(), free_port()
    biggest = max(fleet_sizes)
    with (
        Mosquitto() as broker,
        simulator(
            biggest,
            cloud_latency_ms,
            dongle_port=dongle_port,
            dongle_latency_ms=DONGLE_LATENCY_MS,
            modbus_port=modbus_port,
        ) as url,
    ):
        hops = asyncio.run(mqtt_round_trips(broker.port, commands))
        writes = asyncio.run(timed_posts(url, WRITE_PATH, write_forms(commands)))
        reads = asyncio.run(timed_posts(url, READ_PATH, [READ_BACK_FORM] * commands))
        cloud_floor = [2 * hop + write + read for hop, write, read in zip(hops, writes, reads, strict=True)]
        local_floor = [
            2 * hop + exchange
            for hop, exchange in zip(hops, asyncio.run(dongle_floor(dongle_port, commands)), strict=True)
        ]
        cloud_config = {
            "cloud": {"base_url": url, "username": USERNAME, "password": PASSWORD},
            "mqtt": {"port": broker.port, "base_topic": "benchcloud"},
            "polling": {
                "runtime_seconds": 3600,
                "parameters_seconds": 86400,
                "refresh_request_gap_seconds": 0,
            },
            "control": {"min_write_interval_seconds": 0},
        }
        with bridge_process(cloud_config):
            through_cloud, _ = asyncio.run(bridge_commands(broker.port, "benchcloud", commands))
        with bridge_process(local_config(broker.port, dongle_port, "benchlocal", [SERIAL])):
            through_dongle, _ = asyncio.run(bridge_commands(broker.port, "benchlocal", commands))
        adapter_floor = [
            2 * hop + exchange
            for hop, exchange in zip(hops, asyncio.run(modbus_floor(modbus_port, commands)), strict=True)
        ]
        adapter_config = local_config(broker.port, dongle_port, "benchmodbus", [SERIAL]) | {
            "inverters": {SERIAL: {"modbus": {"host": "127.0.0.1", "port": modbus_port, "unit": 1}}}
        }
        with bridge_process(adapter_config):
            through_adapter, _ = asyncio.run(bridge_commands(broker.port, "benchmodbus", commands))
        fleet = []
        for size in fleet_sizes:
            floors = [asyncio.run(fleet_floor(dongle_port, size)) for _ in range(cycles)]
            base_topic = f"benchlocalfleet{size}"
            with bridge_process(local_config(broker.port, dongle_port, base_topic, serials(size))):
                times = asyncio.run(refresh_cycles(broker.port, base_topic, cycles))
            fleet.append(FleetRow(size, cycles, statistics.median(times), statistics.median(floors)))
    ways = (
        Way("through the cloud", through_cloud, cloud_floor),
        Way("through the dongle", through_dongle, local_floor),
        Way("through a Modbus TCP adapter", through_adapter, adapter_floor),
    )
    return LocalReport(commands, ways, fleet, cloud_latency_ms)


@dataclass(frozen=True, slots=True)
class DongleCommands:
    """Commands through the dongle alone (the headline figure): /set to result against its floor, and the
    bridge's CPU per command."""

    result_ms: list[float]
    floor_ms: list[float]
    cpu_seconds: float

    def figures(self) -> dict[str, float]:
        return command_figures(self.result_ms, self.floor_ms) | {
            "cpu_ms_per_command": 1000 * self.cpu_seconds / len(self.result_ms)
        }

    def markdown(self) -> str:
        figures = self.figures()
        return (
            f"{len(self.result_ms)} commands through the dongle (answering after {DONGLE_LATENCY_MS:g} ms), "
            f"one at a time: p50 {figures['result_p50_ms']:.1f} ms against a floor of "
            f"{figures['floor_p50_ms']:.1f} ms (**{figures['p50_ratio']:.2f}x**), p99 "
            f"{figures['result_p99_ms']:.1f} ms against {figures['floor_p99_ms']:.1f} ms "
            f"(**{figures['p99_ratio']:.2f}x**); the bridge's CPU per command "
            f"{figures['cpu_ms_per_command']:.2f} ms.\n"
        )


def dongle_commands(commands: int) -> DongleCommands:
    dongle_port = free_port()
    with (
        Mosquitto() as broker,
        simulator(1, 0.0, dongle_port=dongle_port, dongle_latency_ms=DONGLE_LATENCY_MS),
    ):
        hops = asyncio.run(mqtt_round_trips(broker.port, commands))
        exchanges = asyncio.run(dongle_floor(dongle_port, commands))
        floor = [2 * hop + exchange for hop, exchange in zip(hops, exchanges, strict=True)]
        with bridge_process(local_config(broker.port, dongle_port, "benchdongle", [SERIAL])) as pid:
            (result, _), cpu = timed_commands(pid, broker.port, "benchdongle", commands)
    return DongleCommands(result, floor, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local", description=__doc__)
    parser.add_argument("--full", action="store_true", help="more commands and a bigger fleet")
    parser.add_argument(
        "--dongle-only",
        type=int,
        metavar="COMMANDS",
        help="only this many commands through the dongle, against their floor, with the bridge's CPU",
    )
    parser.add_argument("--json", action="store_true", help="one line of JSON, for python -m bench.run")
    args = parser.parse_args()
    from bridge.service.logs import configure_logging

    configure_logging("ERROR")
    if args.dongle_only:
        commands = dongle_commands(args.dongle_only)
        if args.json:
            emit_json({"figures": commands.figures(), "markdown": commands.markdown()})
        else:
            print(commands.markdown())
        return 0
    report = run(200, (10, 100)) if args.full else run(40, (1, 10))
    if args.json:
        emit_json({"figures": report.figures(), "markdown": report.markdown()})
    else:
        print(report.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
