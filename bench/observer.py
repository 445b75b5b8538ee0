"""A subscriber of the benchmarks' own, run in a process of its own so that what it costs to receive the
bridge's messages is never counted as the bridge's CPU: it subscribes to the given topic filters and writes
one line per message, `<retain> <qos> <payload bytes> <topic>`, flushed at once, after a first line
`# subscribed`. It speaks MQTT 5 and asks for the retain flag as published, so that a live message says
whether its publisher retained it.

    .venv/bin/python -m bench.observer --port 1883 --filter 'eg4/#' --filter 'homeassistant/#'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TextIO

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench.common import NO_DELAY


async def observe(port: int, filters: list[str], out: TextIO) -> None:
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, socket_options=NO_DELAY
    ) as client:
        for topic_filter in filters:
            await client.subscribe(topic_filter, options=SubscribeOptions(qos=1, retainAsPublished=True))
        out.write("# subscribed\n")
        out.flush()
        async for message in client.messages:
            payload = message.payload
            size = len(payload) if isinstance(payload, bytes | bytearray | str) else len(str(payload or ""))
            out.write(f"{int(message.retain)} {message.qos} {size} {message.topic}\n")
            out.flush()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observer", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="the broker's port on 127.0.0.1")
    parser.add_argument("--filter", action="append", required=True, help="a topic filter (repeatable)")
    parser.add_argument("--output", type=Path, help="file to append to (standard output if not given)")
    args = parser.parse_args()
    with args.output.open("a") if args.output else sys.stdout as out, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(observe(args.port, args.filter, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
