"""The `eg4-bridge` command: run the daemon, check a config file, run the simulator or the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from bridge import __version__
from bridge.logs import configure_logging

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eg4-bridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"eg4-bridge {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    sim = commands.add_parser("simulator", help="serve a simulated EG4 cloud for tests and demos")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8085)
    sim.add_argument("--inverters", type=int, default=2, help="how many inverters the plant has")
    sim.add_argument("--username", default="demo")
    sim.add_argument("--password", default="demo")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    sim.add_argument("--session-lifetime", type=float, default=7200.0, help="seconds a login stays valid")
    sim.add_argument("--dataframe-timeout-rate", type=float, default=0.0, help="share of DATAFRAME_TIMEOUTs")
    sim.add_argument("--http-500-rate", type=float, default=0.0, help="share of HTTP 500 answers")
    sim.add_argument("--gridboss", action="store_true", help="add a GridBOSS to the plant")
    sim.add_argument("--parallel", action="store_true", help="put the inverters in one parallel group")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level or "INFO")
    if args.command == "simulator":
        return _run_simulator(args)
    return EXIT_USAGE


def _run_simulator(args: argparse.Namespace) -> int:
    from bridge.simulator import Faults, SimulatorState, run_simulator

    if args.inverters < 1:
        print("eg4-bridge simulator: --inverters must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    state = SimulatorState(
        username=args.username,
        password=args.password,
        inverter_count=args.inverters,
        gridboss=args.gridboss,
        parallel=args.parallel,
        session_lifetime=args.session_lifetime,
        faults=Faults(
            latency_ms=args.latency_ms,
            dataframe_timeout_rate=args.dataframe_timeout_rate,
            http_500_rate=args.http_500_rate,
        ),
    )

    async def serve() -> None:
        async with run_simulator(state, args.host, args.port) as running:
            devices = len(state.inverters)
            print(f"simulated EG4 cloud at {running.base_url} with {devices} devices", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
