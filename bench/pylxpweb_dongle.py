"""Run with pylxpweb's own interpreter by tests/e2e/test_pylxpweb.py and the benchmarks: pylxpweb's dongle
transport, over real TCP, against the simulator's dongle port. It reads the battery charge current (holding
register 101), writes a new value, reads it back, and reads the runtime the way its poll does. Prints one
JSON object with what it saw."""

import asyncio
import json
import sys

from pylxpweb.transports.dongle import DongleTransport  # type: ignore[import-not-found]

HOST, PORT, DONGLE, INVERTER, NEW_VALUE = (
    sys.argv[1],
    int(sys.argv[2]),
    sys.argv[3],
    sys.argv[4],
    int(sys.argv[5]),
)


async def main() -> None:
    transport = DongleTransport(HOST, DONGLE, INVERTER, port=PORT, timeout=5.0)
    await transport.connect()
    try:
        before = await transport.read_parameters(101, 2)
        written = await transport.write_parameters({101: NEW_VALUE})
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


asyncio.run(main())
