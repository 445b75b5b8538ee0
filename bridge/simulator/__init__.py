"""A faithful stand-in for the EG4 cloud, for tests, benchmarks and the demo. The daemon never imports it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from bridge.simulator.app import create_app
from bridge.simulator.state import FAULT_KINDS, Faults, SimInverter, SimulatorState


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    state: SimulatorState
    base_url: str


@asynccontextmanager
async def run_simulator(
    state: SimulatorState, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve `state` over HTTP until the block ends; `port=0` picks a free port."""
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        bound_port = runner.addresses[0][1]
        yield RunningSimulator(state=state, base_url=f"http://{host}:{bound_port}")
    finally:
        await runner.cleanup()


__all__ = ["FAULT_KINDS", "Faults", "RunningSimulator", "SimInverter", "SimulatorState", "run_simulator"]
