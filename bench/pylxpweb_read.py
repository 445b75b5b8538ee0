"""Run with pylxpweb's own interpreter by bench/pylxpweb_compare.py (Python >= 3.12, its own virtual
environment, bench/.venv-pylxpweb; run alone, it moves there): log in to the simulator, then read the three
parameter windows of every given inverter, all at once, the way pylxpweb does it. Prints one JSON line:
seconds taken and parameters per inverter.

    .venv/bin/python -m bench.pylxpweb_read http://localhost:8085 4512345600,4512345601
"""

import argparse
import asyncio
import json
import os
import sys
import time
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


async def read(base_url: str, serials: list[str]) -> None:
    from pylxpweb import LuxpowerClient

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
