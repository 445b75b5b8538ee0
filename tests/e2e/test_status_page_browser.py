"""The status page in a real browser: Debian's Chromium, headless, on a phone-sized window. It renders the
page as a person would see it, and keeps a screenshot (`.test-artifacts/status-page.png`). `.ci/run`
installs Chromium; without it here the test is skipped, saying so."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.service.daemon import running_bridge
from bridge.simulator import SimulatorState, run_simulator
from tests.harness import Broker, bridge_settings, free_port, observing, unique_topics

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parents[2] / ".test-artifacts"
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
async def test_the_status_page_says_why_with_units_on_a_phone_and_a_desktop(
    broker: Broker, tmp_path: Path
) -> None:
    """At 390 and 1280 pixels wide: each inverter with its live values and the reason it cannot be read, the
    settings with their units and a held value beyond the limit marked, the refused command with its
    reason, local time. Screenshots are kept in .test-artifacts/ (status-page-390.png, -1280.png)."""
    port = free_port()
    topics = unique_topics()
    async with run_simulator(SimulatorState(inverter_count=2)) as simulator:
        limits = {SERIAL: {"max_charge_current": 20}}  # it holds 25 A: beyond the limit
        settings = bridge_settings(
            simulator, broker.port, topics, health={"enabled": True, "port": port}, inverters=limits
        )
        async with observing(broker.port, f"{topics.base}/#") as observer, running_bridge(settings):
            await observer.publish(topics.command(SERIAL, "battery/charge_current"), "42.5")
            await observer.wait_for_topic(topics.result(SERIAL, "battery/charge_current"))
            simulator.state.faults.dataframe_timeout_rate = 1.0  # the cloud stops answering for them
            await observer.publish(topics.refresh_request, "{}")
            await observer.wait_for_topic(topics.refresh_response, within=60)
            url = f"http://127.0.0.1:{port}/"
            ARTIFACTS.mkdir(exist_ok=True)
            pages = {}
            for width, height in ((390, 844), (1280, 900)):
                size = f"--window-size={width},{height}"
                dom = await asyncio.to_thread(chromium, tmp_path / f"dom{width}", size, "--dump-dom", url)
                assert dom.returncode == 0, dom.stderr[-1000:]
                pages[width] = dom.stdout
                shot = ARTIFACTS / f"status-page-{width}.png"
                shot.unlink(missing_ok=True)
                taken = await asyncio.to_thread(
                    chromium, tmp_path / f"shot{width}", size, f"--screenshot={shot}", url
                )
                assert taken.returncode == 0, taken.stderr[-1000:]
                assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                assert shot.stat().st_size > 5_000, "a page was drawn, not a blank"
    page = pages[390]
    assert f"18KPV {SERIAL}" in page
    assert "why: DATAFRAME_TIMEOUT" in page, "the reason it cannot be read"
    assert re.search(r"SOC: <b>\d+ %</b>", page), "live values with their units"
    assert "PV: <b>" in page
    assert '<span class="bad">25 A (beyond the limit)</span>' in page
    assert "≤ 20 A" in page
    assert "Battery Charge Current must be a whole number of A between 0 and 20" in page
    assert 'data-label="outcome"' in page, "labels on every value at phone width"
    assert page.count("<details>") == 2, "each inverter's settings folded: the commands are a scroll away"
    assert '<span class="ok">connected</span>' in page
    assert "Made at" in page
