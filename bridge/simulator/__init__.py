"""A faithful stand-in for the EG4 cloud, for tests, benchmarks and the demo. The daemon never imports it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from bridge.simulator.app import create_app
from bridge.simulator.dongle import SimulatedDongles, serve_dongles
from bridge.simulator.modbus import SimulatedAdapters, serve_adapters, serve_serial_adapter
from bridge.simulator.state import FAULT_KINDS, Faults, SimInverter, SimulatorState


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A simulator serving: its state and where to reach it."""

    state: SimulatorState
    base_url: str
    #: The port of the simulated dongles, when they were asked for.
    dongle_port: int | None = None
    #: The port of the simulated RS485 adapters (Modbus TCP), when they were asked for.
    modbus_port: int | None = None
    #: The serial device of the simulated USB-to-RS485 adapter (Modbus RTU), when it was asked for.
    rtu_device: str | None = None


@asynccontextmanager
async def run_simulator(
    state: SimulatorState,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    dongle_port: int | None = None,
    modbus_port: int | None = None,
    rtu: bool = False,
) -> AsyncIterator[RunningSimulator]:
    """Serve `state` over HTTP until the block ends; `port=0` picks a free port. With `dongle_port`, the
    dongles' local protocol is served on that port too (`0`: a free one), and with `modbus_port` Modbus TCP
    as RS485 adapters would (unit 1 the first inverter, 2 the second, ...), all on the same state."""
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        base_url = f"http://{host}:{runner.addresses[0][1]}"
        async with contextlib.AsyncExitStack() as stack:
            bound_dongles = None
            if dongle_port is not None:
                bound_dongles = await stack.enter_async_context(
                    serve_dongles(SimulatedDongles(state), host, dongle_port)
                )
            bound_modbus = None
            if modbus_port is not None:
                bound_modbus = await stack.enter_async_context(
                    serve_adapters(SimulatedAdapters(state), host, modbus_port)
                )
            rtu_device = None
            if rtu:
                rtu_device = await stack.enter_async_context(serve_serial_adapter(SimulatedAdapters(state)))
            yield RunningSimulator(state, base_url, bound_dongles, bound_modbus, rtu_device)
    finally:
        await runner.cleanup()


__all__ = ["FAULT_KINDS", "Faults", "RunningSimulator", "SimInverter", "SimulatorState", "run_simulator"]
