"""Against the field's own client: pylxpweb reading the three parameter windows of the same inverters from
the same simulator, in the same run, beside this project's client.

pylxpweb needs Python >= 3.12, so it gets a virtual environment of its own under bench/ (never a project
dependency); bench/pylxpweb_read.py runs inside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import PASSWORD, USERNAME, emit_json, simulator_process
from bridge.service.logs import configure_logging
from bridge.transports.cloud import CloudClient

HERE = Path(__file__).parent
VENV = HERE / ".venv-pylxpweb"
CLOUD_LATENCY_MS = 50.0


@dataclass(frozen=True, slots=True)
class Comparison:
    inverters: int
    theirs_seconds: float | None
    ours: dict[int, float]  # concurrency -> seconds
    parameters_theirs: list[int]
    parameters_ours: list[int]
    problem: str | None = None

    def markdown(self) -> str:
        if self.theirs_seconds is None:
            return f"pylxpweb could not run: {self.problem}\n"
        rows = [
            "| client | requests in flight | seconds | ours / theirs | parameters per inverter |",
            "|---|---|---|---|---|",
            f"| pylxpweb | all at once | {self.theirs_seconds:.3f} | "
            f"| {sorted(set(self.parameters_theirs))} |",
        ]
        for concurrency, seconds in self.ours.items():
            rows.append(
                f"| eg4-mqtt-bridge | at most {concurrency} | {seconds:.3f} | "
                f"**{seconds / self.theirs_seconds:.2f}x** | {sorted(set(self.parameters_ours))} |"
            )
        return "\n".join(rows) + "\n"

    def figures(self) -> dict[str, float]:
        if self.theirs_seconds is None:
            return {}
        return {"theirs_s": self.theirs_seconds} | {
            f"ours_at_most_{concurrency}_over_theirs": seconds / self.theirs_seconds
            for concurrency, seconds in self.ours.items()
        }


def python_312() -> str | None:
    """A Python 3.12 or newer: on the PATH, or installed by pyenv without being selected."""
    candidates = [shutil.which(name) for name in ("python3.13", "python3.12")]
    candidates += [str(path) for path in sorted(Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python3"))]
    for found in filter(None, candidates):
        if subprocess.run([found, "--version"], capture_output=True, check=False).returncode == 0:
            return found
    return None


def ensure_venv() -> Path | None:
    python = VENV / "bin" / "python"
    if python.exists():
        return python
    interpreter = python_312()
    if interpreter is None:
        return None
    subprocess.run([interpreter, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "pylxpweb"], check=True)
    return python


async def ours(base_url: str, serials: list[str], concurrency: int) -> tuple[float, list[int]]:
    async with CloudClient(base_url, USERNAME, PASSWORD, concurrency=concurrency) as client:
        await client.login()
        started = time.perf_counter()
        reads = await asyncio.gather(*(client.read_parameters(serial) for serial in serials))
        return time.perf_counter() - started, [len(read.values) for read in reads]


def run(inverters: int) -> Comparison:
    python = ensure_venv()
    serials = [f"{4512345600 + index:010d}" for index in range(inverters)]
    with simulator_process(inverters, latency_ms=CLOUD_LATENCY_MS) as base_url:
        # Both clients speak to `localhost`: a cookie set by a bare IP address is dropped by aiohttp's jar.
        base_url = base_url.replace("127.0.0.1", "localhost")
        timings = {c: asyncio.run(ours(base_url, serials, c)) for c in (3, 3 * inverters)}
        if python is None:
            return Comparison(inverters, None, {}, [], [], "no Python 3.12 or newer on this machine")
        done = subprocess.run(
            [str(python), str(HERE / "pylxpweb_read.py"), base_url, ",".join(serials)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if done.returncode != 0 or not done.stdout.strip():
        problem = done.stderr[-500:] or f"exit status {done.returncode}"
        return Comparison(inverters, None, {}, [], [], problem)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    return Comparison(
        inverters=inverters,
        theirs_seconds=theirs["seconds"],
        ours={c: seconds for c, (seconds, _) in timings.items()},
        parameters_theirs=theirs["parameters"],
        parameters_ours=timings[3][1],
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pylxpweb_compare", description=__doc__)
    parser.add_argument("--inverters", type=int, default=10, help="simulated inverters")
    parser.add_argument("--json", action="store_true", help="one line of JSON, for python -m bench.run")
    args = parser.parse_args()
    configure_logging("ERROR")
    comparison = run(args.inverters)
    if args.json:
        emit_json({"figures": comparison.figures(), "markdown": comparison.markdown()})
    else:
        print(comparison.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
