"""Run with pylxpweb's own interpreter (bench/.venv-pylxpweb; run alone, it moves there) by
tests/e2e/test_pylxpweb.py and the benchmarks: pylxpweb's dongle transport, over real TCP, against the
simulator's dongle port. It reads the battery charge current (holding register 101), writes a new value,
reads it back, and reads the runtime the way its poll does. Prints one JSON object with what it saw.

    .venv/bin/python -m bench.pylxpweb_dongle 127.0.0.1 8000 BA12345600 4512345600 60
"""

import argparse
import asyncio
import json

try:  # run by path under pylxpweb's interpreter, this folder is first on sys.path
    from pylxpweb_env import in_pylxpwebs_environment  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # run as `python -m bench....`
    from bench.pylxpweb_env import in_pylxpwebs_environment


async def exercise(host: str, port: int, dongle: str, inverter: str, new_value: int) -> None:
    from pylxpweb.transports.dongle import DongleTransport  # type: ignore[import-not-found]

    transport = DongleTransport(host, dongle, inverter, port=port, timeout=5.0)
    await transport.connect()
    try:
        before = await transport.read_parameters(101, 2)
        written = await transport.write_parameters({101: new_value})
        after = await transport.read_parameters(101, 2)
        runtime = await transport.read_runtime()
    finally:
        await transport.disconnect()
    print(
        json.dumps(
            {
                "before": before.get(101),
                "written": bool(written),
                "after": after.get(101),
                "discharge": after.get(102),
                "battery_soc": getattr(runtime, "battery_soc", None),
                "battery_voltage": getattr(runtime, "battery_voltage", None),
                "pv_total_power": getattr(runtime, "pv_total_power", None),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_dongle", description=__doc__)
    parser.add_argument("host", help="the dongle's address")
    parser.add_argument("port", type=int, help="the dongle's port")
    parser.add_argument("dongle", help="the dongle's serial")
    parser.add_argument("inverter", help="the inverter's serial")
    parser.add_argument("new_value", type=int, help="the charge current to write, in A")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(exercise(args.host, args.port, args.dongle, args.inverter, args.new_value))


if __name__ == "__main__":
    main()
