"""Run with pylxpweb's own interpreter (bench/.venv-pylxpweb; run alone, it moves there) by
tests/e2e/test_pylxpweb.py: pylxpweb's Modbus TCP transport, over real TCP, against the simulator's Modbus
port, reads a GridBOSS's runtime the way its poll does (`read_midbox_runtime`), decoded by pylxpweb's own
register map. Prints one JSON object of the values the bridge reads locally, in pylxpweb's names and units.

    .venv/bin/python -m bench.pylxpweb_gridboss 127.0.0.1 5020 2 4812345602
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

LEGS = ("l1", "l2")
NAMES = (
    "grid_voltage", "ups_voltage", "grid_frequency",
    *(f"{side}_{leg}_power" for side in ("grid", "load", "gen", "ups") for leg in LEGS),
    *(f"smart_load_{port}_{leg}_power" for port in range(1, 5) for leg in LEGS),
    *(f"{kind}_energy_today_{leg}" for kind in ("load", "ups") for leg in LEGS),
)  # fmt: skip


async def exercise(host: str, port: int, unit: int, gridboss: str) -> None:
    async with adapter_transport(host, port, unit, gridboss) as transport:
        runtime = await transport.read_midbox_runtime()
    print(json.dumps({name: getattr(runtime, name) for name in NAMES}))


def main() -> None:
    parser = adapter_arguments("python -m bench.pylxpweb_gridboss", __doc__, "GridBOSS")
    args = parser.parse_args()
    in_pylxpwebs_environment()
    asyncio.run(exercise(args.host, args.port, args.unit, args.serial))


if __name__ == "__main__":
    main()
