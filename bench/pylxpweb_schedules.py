"""Run with pylxpweb's own interpreter (bench/.venv-pylxpweb; run alone, it moves there) by
tests/e2e/test_pylxpweb.py: log in to the simulator as pylxpweb does, write the peak-shaving schedule's
second window and the off-grid schedule's first through pylxpweb's own setters (the cloud's `writeTime`),
and read both back through its getters (which read the peak-shaving schedule under its numbered names).
Prints one JSON line: what pylxpweb read back.

    .venv/bin/python -m bench.pylxpweb_schedules http://localhost:8085 4512345600
"""

import argparse
import asyncio
import json

try:  # run by path under pylxpweb's interpreter, this folder is first on sys.path
    from pylxpweb_env import in_pylxpwebs_environment  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # run as `python -m bench....`
    from bench.pylxpweb_env import in_pylxpwebs_environment


async def exercise(base_url: str, serial: str) -> None:
    from pylxpweb import LuxpowerClient  # type: ignore[import-not-found]

    async with LuxpowerClient("demo", "demo", base_url=base_url, verify_ssl=False) as client:
        await client.login()
        control = client.api.control
        peak = await control.set_peak_shaving_schedule(serial, 1, 17, 5, 21, 30)
        off_grid = await control.set_off_grid_schedule(serial, 0, 2, 0, 3, 10)
        read = {
            "peak_written": peak.success,
            "off_grid_written": off_grid.success,
            "peak_1": await control.get_peak_shaving_schedule(serial, 0),
            "peak_2": await control.get_peak_shaving_schedule(serial, 1),
            "off_grid_1": await control.get_off_grid_schedule(serial, 0),
        }
    print(json.dumps(read))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_schedules", description=__doc__)
    parser.add_argument("base_url", help="the simulator's address (use localhost: cookies)")
    parser.add_argument("serial", help="the inverter's serial")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(exercise(args.base_url, args.serial))


if __name__ == "__main__":
    main()
