"""The benchmark scripts still run, at tiny sizes, and `python -m bench.run` reads its arguments as the README
says. Nothing here judges speed: that is bench/RESULTS.md's job."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bench
from bench import fleet, latency, run
from bench.sides import Runner, Side, worktree

pytestmark = pytest.mark.e2e

BENCH_MODULES = sorted(module.name for module in pkgutil.iter_modules(bench.__path__))


def test_the_latency_benchmark_measures_every_command_its_floor_and_the_bridges_cpu() -> None:
    report = latency.run(20)
    assert len(report.result_ms) == len(report.state_ms) == len(report.floor_ms) == 20
    assert "bridge: /set to result" in report.markdown()
    figures = report.figures()
    assert figures["cpu_ms_per_command"] >= 0
    assert figures["p50_ratio"] == figures["result_p50_ms"] / figures["floor_p50_ms"]


def test_the_fleet_benchmark_counts_the_requests_messages_and_floors_of_a_refresh() -> None:
    (row,) = fleet.run(((2, 3, 1),))
    # Runtime, three windows, the energy counters and the batteries; quick charge's state came with the
    # runtime answer, so its status is not asked for again.
    assert row.requests_per_cycle == 12
    assert row.floor_seconds == 0.2  # ceil(12 / 3) x 50 ms
    assert row.messages_per_cycle >= 2  # the device config of both inverters at least
    assert len(row.discovery_bytes) == 2  # one retained config per inverter, as a subscriber received it
    assert row.discovery_bytes_per_cycle >= sum(row.discovery_bytes)
    assert row.http_floor_cpu > 0
    assert row.mqtt_floor_cpu > 0


def test_the_fleet_benchmark_profiles_one_more_cycle() -> None:
    (row,) = fleet.run(((1, 8, 1),), profile=True)
    assert row.profile is not None
    assert len(row.profile["cumulative"]) == len(row.profile["own"]) == 15
    assert "Top 15 by cumulative time" in fleet.profile_markdown(row.profile)


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


def test_the_dongle_command_benchmark_reports_its_floor_and_the_bridges_cpu() -> None:
    from bench import local

    figures = local.dongle_commands(3).figures()
    assert figures["floor_p50_ms"] > 0
    assert figures["cpu_ms_per_command"] >= 0


def test_the_dongle_flood_benchmark_reports_the_reader_against_its_floor_and_the_old_reader() -> None:
    """It runs, small, and reports each of its three rows (its figures are for RESULTS.md, not asserted)."""
    from bench.dongle_garbage import report

    table = report(kib=8, runs=1)
    for row in ("floor (finding frame starts)", "the reader now", "the old reader"):
        assert f"| {row}" in table


@pytest.mark.parametrize("module", [name for name in BENCH_MODULES if name != "__init__"])
def test_every_benchmark_module_runs_alone_and_says_how(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m bench.{module}")


# -- bench.run's arguments ---------------------------------------------------------------------------


def plan_for(*arguments: str) -> run.Plan:
    return run.plan_of(run.parser().parse_args(list(arguments)))


def test_each_headline_figure_runs_three_times_quick_and_five_times_full_unless_told() -> None:
    assert plan_for().repeat == plan_for("--quick").repeat == 3
    assert plan_for("--full").repeat == 5
    assert plan_for("--full", "--repeat", "2").repeat == 2
    with pytest.raises(ValueError, match="--repeat"):
        plan_for("--repeat", "0")


def test_only_picks_benchmarks_by_name_or_prefix_and_names_the_ones_there_are() -> None:
    assert [job.key for job in plan_for("--only", "latency,rss").jobs] == ["latency", "rss100"]
    assert [job.key for job in plan_for("--full", "--only", "rss").jobs] == ["rss100", "rss1000"]
    with pytest.raises(ValueError, match="no benchmark nope"):
        plan_for("--only", "nope")


def test_quick_and_full_measure_what_the_targets_name() -> None:
    quick, full = plan_for("--quick"), plan_for("--full")
    assert quick.memory_at is None  # 1,000 inverters only with --full
    assert full.memory_at == 1000
    assert {"rss1000", "cpu1000"} <= {job.key for job in full.jobs}
    for plan in (quick, full):
        headline = {job.key for job in plan.jobs if job.repeated}
        assert {"latency", "dongle", "rss100", "cpu100"} <= headline


def test_the_sides_of_a_comparison_alternate_run_by_run() -> None:
    this, other = Side("this tree", Path("a"), "a"), Side("REF", Path("b"), "b")
    plan = plan_for("--only", "latency,flood", "--repeat", "3")
    order = [(step.job.key, step.side.label, step.run) for step in run.schedule(plan, [this, other])]
    assert order == [
        ("latency", "this tree", 1),
        ("latency", "REF", 1),
        ("latency", "REF", 2),
        ("latency", "this tree", 2),
        ("latency", "this tree", 3),
        ("latency", "REF", 3),
        ("flood", "this tree", 1),  # not a headline figure: once per side
        ("flood", "REF", 1),
    ]


def test_a_dry_run_says_what_would_run_and_measures_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--quick", "--compare", "HEAD", "--only", "cpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "1. cpu100 (fleet --inverters 100 --concurrency 8 --cycles 3 --profile), this tree, run 1 of 3" in out
    )
    assert "2. cpu100 (fleet --inverters 100 --concurrency 8 --cycles 3 --profile), HEAD, run 1 of 3" in out
    assert "4. cpu100 (fleet --inverters 100 --concurrency 8 --cycles 3), this tree, run 2 of 3" in out
    assert "report: printed only" in out  # --only writes no RESULTS.md


def test_a_comparison_with_a_commit_that_does_not_exist_stops_before_measuring(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run.main(["--compare", "no-such-ref-anywhere", "--dry-run"]) == 2
    assert "--compare no-such-ref-anywhere: no such commit" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_compared_commit_is_checked_out_aside_and_its_bridge_is_the_one_measured() -> None:
    root = Path(bench.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    with worktree("HEAD") as side, Runner() as runner:
        assert (side.root / "bridge" / "__init__.py").exists()
        outcome = runner.run(side, "dongle_garbage", ["--kib", "1", "--runs", "1"], timeout=60)
        assert outcome.error is None
        assert outcome.data is not None
        assert Path(outcome.data["bridge"]["root"]) == side.root.resolve()
        assert set(outcome.data["figures"]) == {
            "floor_cpu_s_per_mib",
            "reader_cpu_s_per_mib",
            "old_reader_cpu_s_per_mib",
        }
    assert not side.root.exists()
