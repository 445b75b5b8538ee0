"""Run with pylxpweb's own interpreter by bench/pylxpweb_compare.py (Python >= 3.12, its own virtual
environment, bench/.venv-pylxpweb; run alone, it moves there): log in to the simulator, then read the three
parameter windows of every given inverter, all at once, the way pylxpweb does it. Prints one JSON line:
seconds taken and parameters per inverter.

    .venv/bin/python -m bench.pylxpweb_read http://localhost:8085 4512345600,4512345601
"""

import argparse
import asyncio
import json
import time

try:  # run by path under pylxpweb's interpreter, this folder is first on sys.path
    from pylxpweb_env import in_pylxpwebs_environment  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # run as `python -m bench....`
    from bench.pylxpweb_env import in_pylxpwebs_environment


async def read(base_url: str, serials: list[str]) -> None:
    from pylxpweb import LuxpowerClient  # type: ignore[import-not-found]

    async with LuxpowerClient("demo", "demo", base_url=base_url, verify_ssl=False) as client:
        await client.login()
        started = time.perf_counter()
        reads = await asyncio.gather(*(client.control.read_device_parameters_ranges(s) for s in serials))
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "parameters": [len(read) for read in reads]}))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_read", description=__doc__)
    parser.add_argument("base_url", help="the simulator's address (use localhost: cookies)")
    parser.add_argument("serials", help="inverter serials, separated by commas")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(read(args.base_url, args.serials.split(",")))


if __name__ == "__main__":
    main()
