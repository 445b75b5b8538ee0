"""Run with pylxpweb's own interpreter (bench/.venv-pylxpweb; run alone, it moves there) by
tests/e2e/test_pylxpweb.py: pylxpweb's Modbus TCP transport, over real TCP, against the simulator's Modbus
port, reads the battery bank the way its poll does, with each module from input registers 5002-5121 decoded
by pylxpweb's own register map. Prints one JSON list, one object per module, in pylxpweb's units.

    .venv/bin/python -m bench.pylxpweb_batteries 127.0.0.1 5020 1 4512345600
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


async def exercise(host: str, port: int, unit: int, inverter: str) -> None:
    from pylxpweb.transports.modbus import ModbusTransport  # type: ignore[import-not-found]

    transport = ModbusTransport(host, port=port, unit_id=unit, serial=inverter)
    await transport.connect()
    try:
        bank = await transport.read_battery()
    finally:
        await transport.disconnect()
    names = (
        "serial_number", "battery_index", "voltage", "current", "soc", "soh", "max_capacity", "cycle_count",
        "max_cell_temperature", "min_cell_temperature", "max_cell_voltage", "min_cell_voltage",
        "charge_current_limit", "charge_voltage_ref", "firmware_version",
    )  # fmt: skip
    modules = [] if bank is None else bank.batteries
    print(json.dumps([{name: getattr(module, name) for name in names} for module in modules]))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_batteries", description=__doc__)
    parser.add_argument("host", help="the adapter's address")
    parser.add_argument("port", type=int, help="the adapter's port")
    parser.add_argument("unit", type=int, help="the inverter's Modbus unit")
    parser.add_argument("inverter", help="the inverter's serial")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(exercise(args.host, args.port, args.unit, args.inverter))


if __name__ == "__main__":
    main()
