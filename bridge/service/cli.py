"""The `eg4-bridge` command: run the daemon, check a config file, run the simulator or the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from bridge import __version__
from bridge.core.config import Settings
from bridge.core.errors import (
    AnotherBridgeError,
    AuthenticationError,
    BridgeError,
    BrokerRefusedError,
    ConfigError,
    UnknownInverterError,
)
from bridge.service.config_file import file_warnings, load_settings, settings_warnings
from bridge.service.daemon import run_bridge, stop_on_signals
from bridge.service.logs import configure_logging

EXIT_USAGE = 2
EXIT_REFUSED = 1
#: Failures that end `run` with a sentence instead of a traceback, and the exit status of each: 2 for a
#: config to correct, 1 for a refusal by the cloud or the broker (systemd then restarts it, and logs say why).
EXIT_STATUS: dict[type[BridgeError], int] = {
    UnknownInverterError: EXIT_USAGE,
    AnotherBridgeError: EXIT_USAGE,
    AuthenticationError: EXIT_REFUSED,
    BrokerRefusedError: EXIT_REFUSED,
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
HEALTH_URL = "http://127.0.0.1:9108/healthz"


def _parser() -> argparse.ArgumentParser:
    # Every option says what it does and, where it has one, its default.
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="eg4-bridge", description=__doc__, formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"eg4-bridge {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=LOG_LEVELS,
        type=str.upper,
        help="how much to log; none given: the config's log_level, else INFO",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    # Also accepted after the command (`eg4-bridge run --config c.yaml --log-level DEBUG`).
    level = argparse.ArgumentParser(add_help=False)
    level.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=LOG_LEVELS,
        type=str.upper,
        help="how much to log (wins over the config's log_level)",
    )

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, parents=[level], help=summary, description=summary, formatter_class=formatter
        )

    run = command("run", "run the bridge daemon")
    run.add_argument("--config", type=Path, required=True, help="path to the YAML config file")

    check = command("check-config", "validate a config file; exit 0, or 2 listing problems")
    check.add_argument("--config", type=Path, required=True, help="path to the YAML config file")

    demo = command("demo", "the bridge against the built-in simulator, on your broker")
    demo.add_argument("--mqtt-host", default="127.0.0.1", help="the broker's host")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="the broker's port")
    demo.add_argument("--mqtt-username", default=None, help="the broker's user name, if it wants a login")
    demo.add_argument(
        "--mqtt-password",
        default=None,
        help="the broker's password (or the environment variable EG4_MQTT_PASSWORD, kept out of the shell's "
        "history)",
    )
    demo.add_argument(
        "--base-topic",
        default="eg4demo",
        help="base topic; apart from a real bridge's eg4, never disturbing one",
    )
    demo.add_argument("--discovery-prefix", default="homeassistant", help="Home Assistant's discovery prefix")
    demo.add_argument("--inverters", type=int, default=2, help="simulated inverters, 1 to 100")
    demo.add_argument("--runtime-seconds", type=float, default=10.0, help="how often runtime values refresh")
    demo.add_argument(
        "--local",
        action="store_true",
        help="reach the simulated inverters through their WiFi dongles (transport: local), with no cloud",
    )
    demo.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds; none: at Ctrl-C"
    )

    probe = command("healthcheck", "exit 0 if the bridge's /healthz says ok, else 1 (for containers)")
    probe.add_argument(
        "--config", type=Path, default=None, help="read health.host and health.port from this config file"
    )
    probe.add_argument(
        "--url", default=None, help="ask this URL instead; none: from --config, else " + HEALTH_URL
    )

    sim = command("simulator", "serve a simulated EG4 cloud for tests and demos")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim.add_argument("--port", type=int, default=8085, help="port to listen on")
    sim.add_argument(
        "--dongle-port",
        type=int,
        default=None,
        help="also serve every inverter's WiFi dongle (the local protocol) on this TCP port; none: not",
    )
    sim.add_argument(
        "--modbus-port",
        type=int,
        default=None,
        help="also serve Modbus TCP as RS485 adapters would (unit 1: the first inverter, 2: the second, ...) "
        "on this TCP port; none: not",
    )
    sim.add_argument(
        "--dongle-latency-ms", type=float, default=0.0, help="milliseconds added to every dongle answer"
    )
    sim.add_argument("--inverters", type=int, default=2, help="how many inverters the plant has")
    sim.add_argument("--username", default="demo", help="the account name it accepts")
    sim.add_argument("--password", default="demo", help="the password it accepts")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="milliseconds added to every answer")
    sim.add_argument("--session-lifetime", type=float, default=7200.0, help="seconds a login stays valid")
    sim.add_argument(
        "--dataframe-timeout-rate",
        type=float,
        default=0.0,
        help="share of requests answered DATAFRAME_TIMEOUT",
    )
    sim.add_argument("--http-500-rate", type=float, default=0.0, help="share of requests answered HTTP 500")
    sim.add_argument(
        "--models",
        default="18KPV,FlexBOSS21,12KPV",
        help="the inverters' models in turn, as the cloud names them: 18KPV, 12KPV, FlexBOSS21, "
        "12000XP (off-grid), LXP-LB-8K (Luxpower)",
    )
    sim.add_argument("--gridboss", action="store_true", help="add a GridBOSS to the plant")
    sim.add_argument("--parallel", action="store_true", help="put the inverters in one parallel group")
    sim.add_argument("--batteries", type=int, default=0, help="battery modules behind each inverter")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `eg4-bridge` command: do what `argv` asks and return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.config)
    if args.command == "run":
        return _run(args.config, args.log_level)
    if args.command == "healthcheck":
        url = args.url or _health_url(args.config)
        return EXIT_USAGE if url is None else _healthcheck(url)
    configure_logging(args.log_level or "INFO")
    if args.command == "demo":
        from bridge.service.demo import run_demo

        return run_demo(args)
    return _run_simulator(args)


def _load_or_report(path: Path) -> Settings | None:
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{path}: {problem}" if not problem.startswith(str(path)) else problem, file=sys.stderr)
        return None
    for warning in [*file_warnings(path), *settings_warnings(settings)]:
        print(f"warning: {warning}", file=sys.stderr)
    return settings


def _check_config(path: Path) -> int:
    settings = _load_or_report(path)
    if settings is None:
        return EXIT_USAGE
    way_in = "no cloud, dongles only" if settings.cloud is None else f"cloud {settings.cloud.base_url}"
    print(f"{path}: valid ({way_in}, broker {settings.mqtt.host}:{settings.mqtt.port})")
    return 0


def _run(path: Path, log_level: str | None) -> int:
    settings = _load_or_report(path)
    if settings is None:
        return EXIT_USAGE
    configure_logging(log_level or settings.log_level)

    async def daemon() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_bridge(settings, stop)

    try:
        asyncio.run(daemon())
    except BridgeError as failure:
        status = next((code for kind, code in EXIT_STATUS.items() if isinstance(failure, kind)), None)
        if status is None:
            raise
        print(f"eg4-bridge: {failure}", file=sys.stderr)
        return status
    return 0


def _health_url(config: Path | None) -> str | None:
    """`/healthz` where the config says the health endpoint listens (a container's HEALTHCHECK follows
    health.port this way); the default address without a config."""
    if config is None:
        return HEALTH_URL
    settings = _load_or_report(config)
    if settings is None:
        return None
    health = settings.health
    host = "127.0.0.1" if health.host in ("0.0.0.0", "", "::") else health.host
    return f"http://{host}:{health.port}/healthz"


def _healthcheck(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            print(answer.read().decode())
            return 0
    except urllib.error.HTTPError as failure:
        print(failure.read().decode(), file=sys.stderr)
    except OSError as failure:
        print(f"eg4-bridge healthcheck: {url}: {failure}", file=sys.stderr)
    return 1


def _run_simulator(args: argparse.Namespace) -> int:
    from bridge.simulator import Faults, SimulatorState, run_simulator
    from bridge.simulator.state import MODEL_PROFILES, DongleFaults

    if args.inverters < 1:
        print("eg4-bridge simulator: --inverters must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    models = tuple(model.strip() for model in args.models.split(",") if model.strip())
    unknown = [model for model in models if model not in MODEL_PROFILES]
    if unknown or not models:
        print(
            f"eg4-bridge simulator: --models: unknown model {', '.join(unknown) or '(none)'}; "
            f"known: {', '.join(MODEL_PROFILES)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    state = SimulatorState(
        username=args.username,
        password=args.password,
        inverter_count=args.inverters,
        models=models,
        gridboss=args.gridboss,
        batteries=max(0, args.batteries),
        parallel=args.parallel,
        session_lifetime=args.session_lifetime,
        faults=Faults(
            latency_ms=args.latency_ms,
            dataframe_timeout_rate=args.dataframe_timeout_rate,
            http_500_rate=args.http_500_rate,
        ),
        dongle_faults=DongleFaults(latency_ms=args.dongle_latency_ms),
    )

    async def serve() -> None:
        async with run_simulator(
            state, args.host, args.port, dongle_port=args.dongle_port, modbus_port=args.modbus_port
        ) as running:
            devices = len(state.inverters)
            print(f"simulated EG4 cloud at {running.base_url} with {devices} devices", flush=True)
            if running.dongle_port is not None:
                print(f"simulated dongles at {args.host}:{running.dongle_port}", flush=True)
            if running.modbus_port is not None:
                print(
                    f"simulated RS485 adapters (Modbus TCP) at {args.host}:{running.modbus_port}", flush=True
                )
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
