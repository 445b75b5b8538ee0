"""Run with pylxpweb's own interpreter (Python >= 3.12, its own virtual environment, bench/.venv-pylxpweb;
run alone, it moves there) by tests/e2e/test_pylxpweb.py: log in to the simulator as pylxpweb does, and read
each given inverter's runtime values through pylxpweb's strict models. Prints one JSON line: the fields
pylxpweb parsed, or its error.

    .venv/bin/python -m bench.pylxpweb_runtime http://localhost:8085 4512345600,4512345601
"""

import argparse
import asyncio
import json

try:  # run by path under pylxpweb's interpreter, this folder is first on sys.path
    from pylxpweb_env import in_pylxpwebs_environment  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # run as `python -m bench....`
    from bench.pylxpweb_env import in_pylxpwebs_environment


async def read(base_url: str, serials: list[str]) -> None:
    from pylxpweb import LuxpowerClient  # type: ignore[import-not-found]

    async with LuxpowerClient("demo", "demo", base_url=base_url, verify_ssl=False) as client:
        await client.login()
        read = {}
        for serial in serials:
            runtime = await client.devices.get_inverter_runtime(serial)
            read[serial] = {"soc": runtime.soc, "vBat": runtime.vBat, "ppv": runtime.ppv}
    print(json.dumps(read))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_runtime", description=__doc__)
    parser.add_argument("base_url", help="the simulator's address (use localhost: cookies)")
    parser.add_argument("serials", help="inverter serials, separated by commas")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(read(args.base_url, args.serials.split(",")))


if __name__ == "__main__":
    main()
