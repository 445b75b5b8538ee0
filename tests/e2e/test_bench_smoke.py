"""The benchmark scripts still run, at tiny sizes. Nothing here judges speed: that is bench/RESULTS.md's job."""

from __future__ import annotations

import pytest

from bench import fleet, latency

pytestmark = pytest.mark.e2e


def test_the_latency_benchmark_measures_every_command_and_its_floor() -> None:
    report = latency.run(20)
    assert len(report.result_ms) == len(report.state_ms) == len(report.floor_ms) == 20
    assert "bridge: /set to result" in report.markdown()


def test_the_fleet_benchmark_counts_exactly_the_requests_a_refresh_needs() -> None:
    (row,) = fleet.run(((2, 3, 1),))
    assert row.requests_per_cycle == 12  # runtime, three windows, the energy counters and the batteries
    assert row.floor_seconds == 0.2  # ceil(10 / 3) x 50 ms
    assert row.messages_per_cycle >= 2  # the device config of both inverters at least


async def test_the_burst_benchmark_answers_every_command_and_ends_on_the_last() -> None:
    from bench import burst

    outcome = await burst.burst(50, "", "mosquitto defaults")
    assert (outcome.results, outcome.last_held) == (50, True)


def test_the_local_benchmark_measures_every_way_and_a_fleet_over_dongles() -> None:
    from bench import local

    report = local.run(3, (2,), cycles=1, cloud_latency_ms=20)
    cloud, dongle, adapter = report.ways
    assert len(cloud.result_ms) == len(dongle.result_ms) == len(dongle.floor_ms) == 3
    assert len(adapter.result_ms) == len(adapter.floor_ms) == 3
    (row,) = report.fleet
    assert (row.inverters, row.cycles) == (2, 1)
    assert "through the dongle" in report.markdown()
    assert "through a Modbus TCP adapter" in report.markdown()


def test_the_dongle_flood_benchmark_reports_the_reader_against_its_floor_and_the_old_reader() -> None:
    """It runs, small, and reports each of its three rows (its figures are for RESULTS.md, not asserted)."""
    from bench.dongle_garbage import report

    table = report(kib=8, runs=1)
    for row in ("floor (finding frame starts)", "the reader now", "the old reader"):
        assert f"| {row}" in table


@pytest.mark.parametrize(
    "module", ["run", "latency", "fleet", "burst", "memory", "local", "pylxpweb_compare", "dongle_garbage"]
)
def test_every_benchmark_runs_alone_and_says_how(module: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m bench.{module}")
