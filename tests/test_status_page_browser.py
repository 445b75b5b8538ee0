"""The status page in a real browser: Debian's Chromium, headless, on a phone-sized window. It renders the
page as a person would see it, and keeps a screenshot (`.test-artifacts/status-page.png`). `.ci/run`
installs Chromium; without it here the test is skipped, saying so."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.daemon import running_bridge
from bridge.simulator import SimulatorState, run_simulator
from tests.conftest import Broker, free_port
from tests.harness import bridge_settings, observing, unique_topics

ARTIFACTS = Path(__file__).parent.parent / ".test-artifacts"
SERIAL = "4512345600"
#: As this machine's closed network needs: no background requests, no first-run or sync chatter.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=412,915",
)


def chromium(user_data: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable is not None
    return subprocess.run(
        [executable, *FLAGS, f"--user-data-dir={user_data}", *arguments],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="Chromium is not installed here (.ci/run installs Debian's chromium)",
)
async def test_a_phone_sized_browser_shows_the_inverters_and_a_refused_command(
    broker: Broker, tmp_path: Path
) -> None:
    port = free_port()
    topics = unique_topics()
    async with run_simulator(SimulatorState(inverter_count=2)) as simulator:
        settings = bridge_settings(simulator, broker.port, topics, health={"enabled": True, "port": port})
        async with observing(broker.port, f"{topics.base}/#") as observer, running_bridge(settings):
            await observer.publish(topics.command(SERIAL, "battery/charge_current"), "42.5")
            await observer.wait_for_topic(topics.result(SERIAL, "battery/charge_current"))
            url = f"http://127.0.0.1:{port}/"
            dom = await asyncio.to_thread(chromium, tmp_path / "dom", "--dump-dom", url)
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "status-page.png"
            shot.unlink(missing_ok=True)
            taken = await asyncio.to_thread(chromium, tmp_path / "shot", f"--screenshot={shot}", url)
    assert dom.returncode == 0, dom.stderr[-1000:]
    page = dom.stdout
    assert f"18KPV {SERIAL}" in page
    assert "Battery Charge Current must be a whole number of A between 0 and 250, got 42.5" in page
    assert '<span class="ok">connected</span>' in page
    assert taken.returncode == 0, taken.stderr[-1000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 5_000, "a page was drawn, not a blank"
