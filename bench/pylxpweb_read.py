"""Run by bench/pylxpweb_compare.py with pylxpweb's own interpreter (Python >= 3.12, its own virtual
environment): log in to the simulator, then read the three parameter windows of every given inverter,
all at once, the way pylxpweb does it. Prints one JSON line: seconds taken and parameters per inverter."""

import asyncio
import json
import sys
import time

from pylxpweb import LuxpowerClient  # type: ignore[import-not-found]


async def main(base_url: str, serials: list[str]) -> None:
    async with LuxpowerClient("demo", "demo", base_url=base_url, verify_ssl=False) as client:
        await client.login()
        started = time.perf_counter()
        reads = await asyncio.gather(*(client.control.read_device_parameters_ranges(s) for s in serials))
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "parameters": [len(read) for read in reads]}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2].split(",")))
