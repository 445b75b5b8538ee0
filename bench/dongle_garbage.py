"""What a peer at the dongle's address can cost the bridge: a frame start every 20 bytes, each claiming a
frame of 580 bytes, fed to the dongle connection's reader, against two references measured in the same run:

- the floor: finding every frame start in the same bytes (`bytes.find`), the least any reader must do;
- the old reader's cost: a bit-by-bit CRC-16 over each claimed 580-byte frame, as the reader did before
  it checked headers, used a table CRC, and dropped connections that send nothing but malformed frames.

Reported in CPU seconds per MiB of flood (process time, min / median / max of several runs).

    .venv/bin/python -m bench.dongle_garbage [--kib 256] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from bridge.service.logs import configure_logging
from bridge.transports.local import frames
from bridge.transports.local.dongle import DongleConnection, Stream

FRAME_START_EVERY = 20
CLAIMED_LENGTH = 580


def flood(kib: int) -> bytes:
    start = frames.PREFIX + (1).to_bytes(2, "little") + CLAIMED_LENGTH.to_bytes(2, "little")
    unit = start + bytes(FRAME_START_EVERY - len(start))
    return unit * (kib * 1024 // FRAME_START_EVERY)


class FloodStream:
    """Hands the flood over in 4 KiB reads, as TCP would, reconnection after reconnection."""

    def __init__(self, data: bytes) -> None:
        self._chunks = [data[offset : offset + 4096] for offset in range(0, len(data), 4096)]
        self.closed = False

    async def read(self) -> bytes:
        if self.closed or not self._chunks:
            return b""
        return self._chunks.pop(0)

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def reader_seconds(data: bytes) -> float:
    """CPU seconds for the connection's reader to get through `data`, reconnecting after each drop."""
    remaining = [data]

    async def run() -> int:
        drops = 0
        while remaining[0]:
            stream = FloodStream(remaining[0])
            consumed = len(remaining[0])

            async def connect(stream: FloodStream = stream) -> Stream:
                return stream

            link = DongleConnection("BA12345600", connect, timeout=1.0)
            await link._connected()  # the bench drives the reader directly
            reader = link._reader
            assert reader is not None
            await reader
            drops += link.stats.garbage_drops
            left = sum(len(chunk) for chunk in stream._chunks)
            remaining[0] = remaining[0][consumed - left :] if left else b""
        return drops

    started = time.process_time()
    asyncio.run(run())
    return time.process_time() - started


def floor_seconds(data: bytes) -> float:
    started = time.process_time()
    position = data.find(frames.PREFIX)
    while position >= 0:
        position = data.find(frames.PREFIX, position + 1)
    return time.process_time() - started


def bitwise_crc(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def old_reader_seconds(data: bytes) -> float:
    """A CRC over every claimed frame, bit by bit: what the reader cost before."""
    started = time.process_time()
    position = data.find(frames.PREFIX)
    while position >= 0:
        bitwise_crc(data[position + 20 : position + 6 + CLAIMED_LENGTH - 2])
        position = data.find(frames.PREFIX, position + 1)
    return time.process_time() - started


def spread(measure: Callable[[bytes], float], data: bytes, runs: int) -> tuple[float, float, float]:
    mib = len(data) / 1024 / 1024
    samples = sorted(measure(data) / mib for _ in range(runs))
    return samples[0], statistics.median(samples), samples[-1]


def report(kib: int, runs: int) -> str:
    return measure(kib, runs)[0]


def measure(kib: int, runs: int) -> tuple[str, dict[str, float]]:
    """The table, and the medians in CPU seconds per MiB."""
    data = flood(kib)
    rows = [
        ("floor (finding frame starts)", spread(floor_seconds, data, runs)),
        ("the reader now", spread(reader_seconds, data, runs)),
        (
            "the old reader (bit-by-bit CRC per claimed frame)",
            spread(old_reader_seconds, data, max(1, runs // 2)),
        ),
    ]
    floor = rows[0][1][1]
    lines = [
        f"Dongle flood: {kib} KiB with a frame start every {FRAME_START_EVERY} bytes, CPU s per MiB "
        f"(min / median / max of {runs} runs)",
        "",
        "| reader | min | median | max | median vs floor |",
        "|---|---|---|---|---|",
    ]
    for name, (low, middle, high) in rows:
        ratio = middle / floor if floor > 0 else float("inf")
        lines.append(f"| {name} | {low:.4f} | {middle:.4f} | {high:.4f} | {ratio:.0f}x |")
    figures = {
        key: middle
        for key, (_name, (_low, middle, _high)) in zip(("floor", "reader", "old_reader"), rows, strict=True)
    }
    return "\n".join(lines), figures


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dongle_garbage", description=__doc__)
    parser.add_argument("--kib", type=int, default=256, help="size of the flood in KiB")
    parser.add_argument("--runs", type=int, default=5, help="runs of each measurement")
    parser.add_argument("--json", action="store_true", help="one line of JSON, for python -m bench.run")
    args = parser.parse_args()
    configure_logging("ERROR")  # each dropped connection is a warning: thousands here
    table, figures = measure(args.kib, args.runs)
    if args.json:
        from bench.common import emit_json

        emit_json(
            {"figures": {f"{key}_cpu_s_per_mib": value for key, value in figures.items()}, "markdown": table}
        )
    else:
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
