"""Run with pylxpweb's own interpreter (Python >= 3.12, its own virtual environment) by
tests/e2e/test_pylxpweb.py: log in to the simulator as pylxpweb does, and read each given inverter's runtime
values through pylxpweb's strict models. Prints one JSON line: the fields pylxpweb parsed, or its error."""

import asyncio
import json
import sys

from pylxpweb import LuxpowerClient  # type: ignore[import-not-found]


async def main(base_url: str, serials: list[str]) -> None:
    async with LuxpowerClient("demo", "demo", base_url=base_url, verify_ssl=False) as client:
        await client.login()
        read = {}
        for serial in serials:
            runtime = await client.devices.get_inverter_runtime(serial)
            read[serial] = {"soc": runtime.soc, "vBat": runtime.vBat, "ppv": runtime.ppv}
    print(json.dumps(read))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2].split(",")))
