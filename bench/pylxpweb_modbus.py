"""Run with pylxpweb's own interpreter (bench/.venv-pylxpweb; run alone, it moves there) by
tests/e2e/test_pylxpweb.py: pylxpweb's Modbus TCP transport, over real TCP, against the simulator's Modbus
port (an RS485 adapter's, unit 1 the first inverter). It reads the battery charge current (holding register
101) and the device type code, writes a new current, reads it back, and reads the runtime the way its poll
does. Prints one JSON object with what it saw.

    .venv/bin/python -m bench.pylxpweb_modbus 127.0.0.1 5020 1 4512345600 60
"""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path


def in_pylxpwebs_environment() -> None:
    """pylxpweb lives in an environment of its own (bench/.venv-pylxpweb, made by
    `python -m bench.pylxpweb_compare`): without it here, this script runs again there."""
    try:
        import pylxpweb  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        python = Path(__file__).resolve().parent / ".venv-pylxpweb" / "bin" / "python"
        if not python.exists() or Path(sys.executable) == python:
            sys.exit("pylxpweb is not installed: `python -m bench.pylxpweb_compare` makes its environment")
        os.execv(python, [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


async def exercise(host: str, port: int, unit: int, inverter: str, new_value: int) -> None:
    from pylxpweb.transports.modbus import ModbusTransport  # type: ignore[import-not-found]

    transport = ModbusTransport(host, port=port, unit_id=unit, serial=inverter)
    await transport.connect()
    try:
        before = await transport.read_parameters(101, 2)
        device_type = await transport.read_device_type()
        written = await transport.write_parameters({101: new_value})
        after = await transport.read_parameters(101, 2)
        runtime = await transport.read_runtime()
    finally:
        await transport.disconnect()
    print(
        json.dumps(
            {
                "before": before.get(101),
                "device_type": device_type,
                "written": bool(written),
                "after": after.get(101),
                "battery_soc": getattr(runtime, "battery_soc", None),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_modbus", description=__doc__)
    parser.add_argument("host", help="the adapter's address")
    parser.add_argument("port", type=int, help="the adapter's port")
    parser.add_argument("unit", type=int, help="the inverter's Modbus unit")
    parser.add_argument("inverter", help="the inverter's serial")
    parser.add_argument("new_value", type=int, help="the charge current to write, in A")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(exercise(args.host, args.port, args.unit, args.inverter, args.new_value))


if __name__ == "__main__":
    main()
