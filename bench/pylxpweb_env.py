"""pylxpweb's environment for the bench/pylxpweb_*.py scripts, which run under pylxpweb's own interpreter
(Python 3.12 or newer, bench/.venv-pylxpweb, made by `python -m bench.pylxpweb_compare`). A script run by
path there finds this module beside it (its folder is first on `sys.path`); run as `python -m bench.<script>`
it finds it in the `bench` package.

    from pylxpweb_env import in_pylxpwebs_environment   # by path
    from bench.pylxpweb_env import in_pylxpwebs_environment   # as a module
"""

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

VENV_PYTHON = Path(__file__).resolve().parent / ".venv-pylxpweb" / "bin" / "python"


def in_pylxpwebs_environment() -> None:
    """Without pylxpweb here, the running script (`sys.argv[0]`) runs again under pylxpweb's interpreter."""
    try:
        import pylxpweb  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        if not VENV_PYTHON.exists() or Path(sys.executable) == VENV_PYTHON:
            sys.exit("pylxpweb is not installed: `python -m bench.pylxpweb_compare` makes its environment")
        script = Path(sys.argv[0]).resolve()
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), str(script), *sys.argv[1:]])


def adapter_arguments(prog: str, description: str | None, device: str) -> argparse.ArgumentParser:
    """The arguments of a script that reads a device behind the simulator's Modbus TCP port: the adapter's
    address and port, the device's Modbus unit and its serial (`device`: what it is, for the help)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("host", help="the adapter's address")
    parser.add_argument("port", type=int, help="the adapter's port")
    parser.add_argument("unit", type=int, help=f"the {device}'s Modbus unit")
    parser.add_argument("serial", help=f"the {device}'s serial")
    return parser


@contextlib.asynccontextmanager
async def adapter_transport(host: str, port: int, unit: int, serial: str) -> AsyncIterator[Any]:
    """pylxpweb's Modbus TCP transport to one device, connected, and disconnected at the end."""
    from pylxpweb.transports.modbus import ModbusTransport  # type: ignore[import-not-found]

    transport = ModbusTransport(host, port=port, unit_id=unit, serial=serial)
    await transport.connect()
    try:
        yield transport
    finally:
        await transport.disconnect()


def main() -> None:
    """Say where pylxpweb's interpreter is, and whether it is there."""
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_env", description=__doc__)
    parser.parse_args()
    state = "present" if VENV_PYTHON.exists() else "absent: `python -m bench.pylxpweb_compare` makes it"
    print(f"pylxpweb's interpreter: {VENV_PYTHON} ({state})")


if __name__ == "__main__":
    main()
