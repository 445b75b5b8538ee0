"""Run with pylxpweb's own interpreter by tests/e2e/test_pylxpweb.py: pylxpweb's Modbus TCP transport, over
real TCP, against the simulator's Modbus port (an RS485 adapter's, unit 1 the first inverter). It reads the
battery charge current (holding register 101) and the device type code, writes a new current, reads it back,
and reads the runtime the way its poll does. Prints one JSON object with what it saw."""

import asyncio
import json
import sys

from pylxpweb.transports.modbus import ModbusTransport  # type: ignore[import-not-found]

HOST, PORT, UNIT, INVERTER, NEW_VALUE = (
    sys.argv[1],
    int(sys.argv[2]),
    int(sys.argv[3]),
    sys.argv[4],
    int(sys.argv[5]),
)


async def main() -> None:
    transport = ModbusTransport(HOST, port=PORT, unit_id=UNIT, serial=INVERTER)
    await transport.connect()
    try:
        before = await transport.read_parameters(101, 2)
        device_type = await transport.read_device_type()
        written = await transport.write_parameters({101: NEW_VALUE})
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


asyncio.run(main())
