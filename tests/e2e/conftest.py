"""The end-to-end tests' fixtures: the simulator over a real socket, a cloud client, and a real mosquitto per
test run (its helpers, `Broker` and `free_port`, are in tests/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from bridge.transports.cloud import CloudClient
from tests.harness import FAST_RETRY, Broker


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimulatorState(inverter_count=2, gridboss=True, parallel=True)) as running:
        yield running


@pytest.fixture
async def cloud(simulator: RunningSimulator) -> AsyncIterator[CloudClient]:
    async with CloudClient(simulator.base_url, "demo", "demo", retry=FAST_RETRY, request_timeout=5) as client:
        yield client


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = Broker(tmp_path_factory.mktemp("mosquitto"))
    running.start()
    yield running
    running.stop()
