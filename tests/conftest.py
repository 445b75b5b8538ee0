"""Shared fixtures: the simulator over a real socket, a cloud client, and a real mosquitto per test run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.simulator import RunningSimulator, SimulatorState, run_simulator
from bridge.transports.cloud import CloudClient, RetryPolicy
from tests.reliability import check_report, gather, recorded_as_json

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
UNIT_TESTS = Path(__file__).parent / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """tests/unit is `unit` (run alone: `pytest -m unit`, seconds); everything else is `e2e`."""
    for item in items:
        unit = UNIT_TESTS in Path(item.path).parents
        item.add_marker(pytest.mark.unit if unit else pytest.mark.e2e)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """docs/RELIABILITY.md must say what this run observed, whichever order the tests ran in."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller checks, from every worker's records
        workeroutput["reliability"] = recorded_as_json()
        return
    if exitstatus != 0:
        return
    problem = check_report()
    if problem is not None:
        session.config.get_terminal_writer().line(f"\n{problem}", red=True)
        session.exitstatus = 1


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist's controller, as each worker ends: gather what it recorded."""
    gather(getattr(node, "workeroutput", {}).get("reliability", "[]"))


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimulatorState(inverter_count=2, gridboss=True, parallel=True)) as running:
        yield running


@pytest.fixture
async def cloud(simulator: RunningSimulator) -> AsyncIterator[CloudClient]:
    async with CloudClient(simulator.base_url, "demo", "demo", retry=FAST_RETRY, request_timeout=5) as client:
        yield client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Broker:
    """A mosquitto of this test run's own, on a free port; it can be stopped and started again."""

    def __init__(self, workdir: Path, extra: str = "allow_anonymous true\n") -> None:
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        # As root, mosquitto would switch to its own user, who cannot read this test run's files.
        keep_user = "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(f"listener {self.port} 127.0.0.1\npersistence false\n{keep_user}{extra}")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [executable, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = Broker(tmp_path_factory.mktemp("mosquitto"))
    running.start()
    yield running
    running.stop()
