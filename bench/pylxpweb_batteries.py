"""Run with pylxpweb's own interpreter (bench/.venv-pylxpweb; run alone, it moves there) by
tests/e2e/test_pylxpweb.py: pylxpweb's Modbus TCP transport, over real TCP, against the simulator's Modbus
port, reads the battery bank the way its poll does, with each module from input registers 5002-5121 decoded
by pylxpweb's own register map. Prints one JSON list, one object per module, in pylxpweb's units.

    .venv/bin/python -m bench.pylxpweb_batteries 127.0.0.1 5020 1 4512345600
"""

import asyncio
import json

try:  # run by path under pylxpweb's interpreter, this folder is first on sys.path
    from pylxpweb_env import (  # type: ignore[import-not-found,unused-ignore]
        adapter_arguments,
        adapter_transport,
        in_pylxpwebs_environment,
    )
except ImportError:  # run as `python -m bench....`
    from bench.pylxpweb_env import adapter_arguments, adapter_transport, in_pylxpwebs_environment


async def exercise(host: str, port: int, unit: int, inverter: str) -> None:
    async with adapter_transport(host, port, unit, inverter) as transport:
        bank = await transport.read_battery()
    names = (
        "serial_number", "battery_index", "voltage", "current", "soc", "soh", "max_capacity", "cycle_count",
        "max_cell_temperature", "min_cell_temperature", "max_cell_voltage", "min_cell_voltage",
        "charge_current_limit", "charge_voltage_ref", "firmware_version",
    )  # fmt: skip
    modules = [] if bank is None else bank.batteries
    print(json.dumps([{name: getattr(module, name) for name in names} for module in modules]))


def main() -> None:
    parser = adapter_arguments("python -m bench.pylxpweb_batteries", __doc__, "inverter")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(exercise(args.host, args.port, args.unit, args.serial))


if __name__ == "__main__":
    main()
