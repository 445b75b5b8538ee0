"""`eg4-bridge demo`: the simulator and the bridge in one process, publishing to a real broker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
from typing import Any

from bridge.core.errors import AnotherBridgeError, BridgeError
from bridge.service.config_file import settings_from_mapping
from bridge.service.coordinator import Coordinator
from bridge.service.daemon import run_bridge, stop_on_signals
from bridge.simulator import RunningSimulator, SimulatorState, run_simulator

NO_BROKER_EXIT = 1
USAGE_EXIT = 2
MAX_INVERTERS = 100


def broker_answers(host: str, port: int) -> bool:
    """Whether anything accepts a TCP connection at `host`:`port` (within 2 s)."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def run_demo(args: argparse.Namespace) -> int:
    """`eg4-bridge demo`: check the arguments and the broker, run the demo, and return the exit status."""
    if not 1 <= args.inverters <= MAX_INVERTERS:
        print(f"eg4-bridge demo: --inverters must be from 1 to {MAX_INVERTERS}", file=sys.stderr)
        return USAGE_EXIT
    if args.duration is not None and not args.duration > 0:
        print("eg4-bridge demo: --duration must be a positive number of seconds", file=sys.stderr)
        return USAGE_EXIT
    if not broker_answers(args.mqtt_host, args.mqtt_port):
        start = "mosquitto -d" if args.mqtt_port == 1883 else f"mosquitto -d -p {args.mqtt_port}"
        print(
            f"eg4-bridge demo: no MQTT broker answers at {args.mqtt_host}:{args.mqtt_port}.\n"
            f"Start one, for example on Debian or Ubuntu: sudo apt-get install -y mosquitto && {start}\n"
            "or point the demo at yours with --mqtt-host and --mqtt-port.",
            file=sys.stderr,
        )
        return NO_BROKER_EXIT
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_demo(args))
    except BridgeError as failure:
        # The broker refused the login, another demo or bridge serves the base topic: a sentence, no trace.
        print(f"eg4-bridge demo: {failure}", file=sys.stderr)
        return USAGE_EXIT if isinstance(failure, AnotherBridgeError) else NO_BROKER_EXIT
    return 0


async def _demo(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    state = SimulatorState(inverter_count=args.inverters, batteries=0 if args.local else 2)
    async with run_simulator(state, dongle_port=0 if args.local else None) as simulator:
        settings = settings_from_mapping(
            _way_in(args.local, simulator, state)
            | {
                "mqtt": {
                    "host": args.mqtt_host,
                    "port": args.mqtt_port,
                    "username": args.mqtt_username,
                    # The Mosquitto add-on wants a login; the password may come from the environment.
                    "password": args.mqtt_password or os.environ.get("EG4_MQTT_PASSWORD") or None,
                    "base_topic": args.base_topic,
                    "discovery_prefix": args.discovery_prefix,
                    # Device and entity ids of its own: never mistaken for, or merged with, a real inverter.
                    "device_prefix": "eg4demo",
                },
                "polling": {"runtime_seconds": args.runtime_seconds, "parameters_seconds": 60},
            },
            environ={},
        )

        async def explain(coordinator: Coordinator) -> None:
            broker = f"-h {args.mqtt_host} -p {args.mqtt_port}"
            first = next(iter(coordinator.inverters))
            way = "their simulated WiFi dongles, with no cloud" if args.local else "a simulated cloud"
            print(
                f"\nThe bridge reaches {len(coordinator.inverters)} inverters through {way}.\n"
                f"Watch every topic:     mosquitto_sub {broker} -v -t '{args.base_topic}/#'\n"
                f"Set a charge current:  mosquitto_pub {broker} -t {args.base_topic}/{first}/battery/"
                "charge_current/set -m 80\n"
                "Stop with Ctrl-C: every retained message the demo published is removed.\n",
                flush=True,
            )

        if args.duration is not None:
            asyncio.get_running_loop().call_later(args.duration, stop.set)
        # Every retained message it published (discovery, states, status) is removed when it stops.
        await run_bridge(settings, stop, on_ready=explain, leave_no_trace=True)


def _way_in(local: bool, simulator: RunningSimulator, state: SimulatorState) -> dict[str, Any]:
    """The config's cloud account, or (`--local`) every simulated inverter's dongle and no cloud."""
    if not local:
        return {"cloud": {"base_url": simulator.base_url, "username": "demo", "password": "demo"}}
    dongles = {
        serial: {
            "dongle": {
                "host": "127.0.0.1",
                "port": simulator.dongle_port,
                "serial": state.dongle_serial(serial),
            }
        }
        for serial in state.inverters
    }
    return {"transport": "local", "inverters": dongles}
