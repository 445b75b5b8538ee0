"""Run with pylxpweb's own interpreter (bench/.venv-pylxpweb; run alone, it moves there) by
tests/e2e/test_pylxpweb.py: pylxpweb's Modbus TCP transport, over real TCP, against the simulator's Modbus
port (an RS485 adapter's, unit 1 the first inverter). It reads the battery charge current (holding register
101) and the device type code, writes a new current, reads it back, and reads the runtime the way its poll
does. Prints one JSON object with what it saw.

    .venv/bin/python -m bench.pylxpweb_modbus 127.0.0.1 5020 1 4512345600 60
"""

import asyncio
import json

try:  # run by path under pylxpweb's interpreter, this folder is first on sys.path
    from pylxpweb_env import (  # type: ignore[import-not-found,unused-ignore]
        adapter_arguments,
        in_pylxpwebs_environment,
    )
except ImportError:  # run as `python -m bench....`
    from bench.pylxpweb_env import adapter_arguments, in_pylxpwebs_environment


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
    parser = adapter_arguments("python -m bench.pylxpweb_modbus", __doc__, "inverter")
    parser.add_argument("new_value", type=int, help="the charge current to write, in A")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(exercise(args.host, args.port, args.unit, args.serial, args.new_value))


if __name__ == "__main__":
    main()
