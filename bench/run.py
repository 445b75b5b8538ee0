"""Run every benchmark and write bench/RESULTS.md: the targets of issue 22, met or missed, each figure against
a floor measured in the same run, on this machine.

    .venv/bin/python -m bench.run --quick                 # about ten minutes
    .venv/bin/python -m bench.run --full                  # the sizes the targets name (1,000 inverters)
    .venv/bin/python -m bench.run --quick --compare HEAD  # this working tree against a commit, side by side
    .venv/bin/python -m bench.run --only latency,cpu      # some benchmarks; prints, writes no RESULTS.md
    .venv/bin/python -m bench.run --quick --compare HEAD --dry-run   # what would run, in which order

Each benchmark runs in processes of its own (its broker, simulator and bridge). Headline figures are
measured `--repeat` times (3 in quick mode, 5 in full) and read min / median / max; a target is judged on
the median. With `--compare REF`, REF is checked out with `git worktree add` into a temporary directory
(removed at the end) and every benchmark also runs against its bridge, with this interpreter and this
checkout's benchmark code, runs of the two sides alternating (A B, then B A, ...) so that a machine getting
slower or faster weighs on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fleet
from bench.common import Spread, machine
from bench.sides import Outcome, Runner, Side, resolve, this_tree, worktree

HERE = Path(__file__).parent

#: The targets of issue 22.
MEMORY_TARGET_MIB = 80.0
P50_TARGET = 1.5
P99_TARGET = 2.5
DISCOVERY_TARGET_BYTES = 8_000  # 8 KB
CPU_TARGET = 1.5


@dataclass(frozen=True, slots=True)
class Job:
    key: str
    module: str
    arguments: tuple[str, ...]
    repeated: bool  # a headline figure: measured --repeat times
    title: str = ""
    #: Added to the first run of each side (a profile is taken once).
    first_run_extra: tuple[str, ...] = ()
    timeout: float = 3600.0
    #: The figures shown in the table of all figures (every one when empty).
    shown: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    repeat: int
    jobs: tuple[Job, ...]
    #: The memory target's size, when this plan measures it.
    memory_at: int | None = None
    cpu_sizes: tuple[int, ...] = (100,)


def _fleet_job(inverters: int, concurrency: int, cycles: int, *, repeated: bool = False) -> Job:
    return Job(
        f"fleet{inverters}x{concurrency}",
        "fleet",
        ("--inverters", str(inverters), "--concurrency", str(concurrency), "--cycles", str(cycles)),
        repeated,
        f"refresh of {inverters} at concurrency {concurrency}",
        shown=("cycle_over_floor", "cpu_over_floor", "cpu_s", "messages"),
    )


def _cpu_job(inverters: int, cycles: int, *, repeated: bool = True, profile: bool = True) -> Job:
    return replace(
        _fleet_job(inverters, 8, cycles, repeated=repeated),
        key=f"cpu{inverters}",
        title=f"CPU per refresh cycle, {inverters} inverters",
        first_run_extra=("--profile",) if profile else (),
        shown=(),
    )


def _rss_job(inverters: int) -> Job:
    return Job(
        f"rss{inverters}",
        "memory",
        ("--part", "rss", "--inverters", str(inverters)),
        True,
        f"resident memory, {inverters} inverters",
    )


QUICK = Plan(
    "quick",
    3,
    (
        Job("latency", "latency", ("--commands", "1000"), True, "commands through the cloud"),
        Job("dongle", "local", ("--dongle-only", "100"), True, "commands through the dongle"),
        _rss_job(100),
        _cpu_job(100, 3),
        Job("tracemalloc", "memory", ("--part", "tracemalloc", "--inverters", "100"), False, "tracemalloc"),
        _fleet_job(1, 3, 3),
        _fleet_job(1, 8, 3),
        _fleet_job(10, 3, 3),
        _fleet_job(10, 8, 3),
        _fleet_job(100, 3, 1),
        Job("local", "local", (), False, "local control"),
        Job("soak", "memory", ("--part", "soak", "--cycles", "300", "--restarts", "2"), False, "soak"),
        Job("pylxpweb", "pylxpweb_compare", ("--inverters", "10"), False, "against pylxpweb"),
        Job("flood", "dongle_garbage", ("--kib", "256", "--runs", "5"), False, "dongle flood"),
    ),
)
FULL = Plan(
    "full",
    5,
    (
        Job("latency", "latency", ("--commands", "1500"), True, "commands through the cloud"),
        Job("dongle", "local", ("--dongle-only", "300"), True, "commands through the dongle"),
        _rss_job(100),
        _rss_job(1000),
        _cpu_job(100, 3),
        _cpu_job(1000, 1, repeated=False, profile=False),
        Job("tracemalloc", "memory", ("--part", "tracemalloc", "--inverters", "1000"), False, "tracemalloc"),
        _fleet_job(1, 3, 5),
        _fleet_job(1, 8, 5),
        _fleet_job(10, 3, 5),
        _fleet_job(10, 8, 5),
        _fleet_job(100, 3, 2),
        Job("local", "local", ("--full",), False, "local control"),
        Job("soak", "memory", ("--part", "soak", "--cycles", "2000", "--restarts", "4"), False, "soak"),
        Job("pylxpweb", "pylxpweb_compare", ("--inverters", "100"), False, "against pylxpweb"),
        Job("flood", "dongle_garbage", ("--kib", "256", "--runs", "5"), False, "dongle flood"),
    ),
    memory_at=1000,
    cpu_sizes=(100, 1000),
)


# -- running ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    job: Job
    side: Side
    run: int  # from 1
    runs: int

    @property
    def arguments(self) -> tuple[str, ...]:
        return self.job.arguments + (self.job.first_run_extra if self.run == 1 else ())

    def describe(self) -> str:
        return (
            f"{self.job.key} ({self.job.module} {' '.join(self.arguments)}), {self.side.label}, "
            f"run {self.run} of {self.runs}"
        )


def schedule(plan: Plan, sides: Sequence[Side]) -> Iterator[Step]:
    """Every run of every job, the sides alternating: A B, then B A, then A B..."""
    for job in plan.jobs:
        runs = plan.repeat if job.repeated else 1
        for run in range(1, runs + 1):
            order = sides if run % 2 == 1 else list(reversed(sides))
            for side in order:
                yield Step(job, side, run, runs)


@dataclass
class Results:
    sides: list[Side]
    outcomes: dict[str, dict[str, list[Outcome]]] = field(default_factory=dict)

    def add(self, step: Step, outcome: Outcome) -> None:
        self.outcomes.setdefault(step.job.key, {}).setdefault(step.side.label, []).append(outcome)

    def good(self, key: str, side: Side) -> list[dict[str, Any]]:
        return [o.data for o in self.outcomes.get(key, {}).get(side.label, []) if o.data is not None]

    def errors(self, key: str, side: Side) -> list[str]:
        return [o.error for o in self.outcomes.get(key, {}).get(side.label, []) if o.error is not None]

    def spread(self, key: str, side: Side, figure: str) -> Spread | None:
        values = [data["figures"][figure] for data in self.good(key, side) if figure in data["figures"]]
        return Spread.of(values) if values else None

    def median_run(self, key: str, side: Side, figure: str) -> dict[str, Any] | None:
        """The run whose `figure` is the median one (the lower of the two middle ones)."""
        runs = [data for data in self.good(key, side) if figure in data["figures"]]
        if not runs:
            return None
        runs.sort(key=lambda data: data["figures"][figure])
        return runs[(len(runs) - 1) // 2]

    def first_with(self, key: str, side: Side, what: Callable[[dict[str, Any]], Any]) -> Any:
        for data in self.good(key, side):
            found = what(data)
            if found:
                return found
        return None


def measure(plan: Plan, sides: list[Side], runner: Runner) -> Results:
    results = Results(sides)
    steps = list(schedule(plan, sides))
    for number, step in enumerate(steps, 1):
        print(f"[{number}/{len(steps)}] {step.describe()} ...", end=" ", flush=True)
        outcome = runner.run(step.side, step.job.module, step.arguments, timeout=step.job.timeout)
        print(
            f"{outcome.seconds:.0f} s" + (f", FAILED: {outcome.error}" if outcome.error else ""), flush=True
        )
        results.add(step, outcome)
    return results


# -- the report ------------------------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    if met is None:
        return "not measured"
    return "met" if met else "**missed**"


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    cells: Callable[[Results, Side], tuple[str, str, bool | None]]  # measured, floor, met


def _ratio_target(key: str, share: str, limit: float, way: str) -> Target:
    def cells(results: Results, side: Side) -> tuple[str, str, bool | None]:
        ratio = results.spread(key, side, f"{share}_ratio")
        result = results.spread(key, side, f"result_{share}_ms")
        floor = results.spread(key, side, f"floor_{share}_ms")
        if ratio is None or result is None or floor is None:
            return _missing(results, key, side)
        return (
            f"{ratio.text(2, 'x')} ({result.median:.2f} ms)",
            f"{floor.median:.2f} ms",
            ratio.median <= limit,
        )

    return Target(f"command `/set` to result {share} through {way} within {limit:g}x its floor", cells)


def _missing(results: Results, key: str, side: Side) -> tuple[str, str, bool | None]:
    errors = results.errors(key, side)
    return (f"failed: {errors[0]}" if errors else "not measured", "", None)


def _memory_target(plan: Plan) -> Target:
    size = plan.memory_at or 1000

    def cells(results: Results, side: Side) -> tuple[str, str, bool | None]:
        key = f"rss{size}"
        rss = results.spread(key, side, "rss_mib")
        imports = results.spread(key if rss else "rss100", side, "imports_rss_mib")
        floor = f"{imports.median:.1f} MiB (imports alone)" if imports else ""
        if plan.memory_at is None:
            at_100 = results.spread("rss100", side, "rss_mib")
            shown = f"; at 100 inverters: {at_100.text(1, ' MiB')}" if at_100 else ""
            return (f"not measured in quick mode (--full){shown}", floor, None)
        if rss is None:
            return _missing(results, key, side)
        return (rss.text(1, " MiB"), floor, rss.median < MEMORY_TARGET_MIB)

    return Target(
        f"resident memory below {MEMORY_TARGET_MIB:g} MiB at {size:,} inverters once the first refresh "
        "is out",
        cells,
    )


def _discovery_target() -> Target:
    def cells(results: Results, side: Side) -> tuple[str, str, bool | None]:
        largest = results.spread("cpu100", side, "discovery_bytes_max")
        if largest is None:
            return _missing(results, "cpu100", side)
        return (
            f"{largest.median:,.0f} bytes (the largest config)",
            "",
            largest.median <= DISCOVERY_TARGET_BYTES,
        )

    return Target("discovery at most 8 KB (8,000 bytes) per inverter", cells)


def _cpu_target(inverters: int) -> Target:
    key = f"cpu{inverters}"

    def cells(results: Results, side: Side) -> tuple[str, str, bool | None]:
        ratio = results.spread(key, side, "cpu_over_floor")
        cpu = results.spread(key, side, "cpu_s")
        floor = results.spread(key, side, "floor_cpu_s")
        if ratio is None or cpu is None or floor is None:
            return _missing(results, key, side)
        return (
            f"{ratio.text(2, 'x')} ({cpu.median:.3f} s)",
            f"{floor.median:.3f} s",
            ratio.median <= CPU_TARGET,
        )

    return Target(
        f"CPU per refresh cycle at {inverters:,} inverters within {CPU_TARGET:g}x its library floor", cells
    )


def targets(plan: Plan) -> list[Target]:
    return [
        _memory_target(plan),
        _ratio_target("latency", "p50", P50_TARGET, "the cloud"),
        _ratio_target("latency", "p99", P99_TARGET, "the cloud"),
        _ratio_target("dongle", "p50", P50_TARGET, "the dongle"),
        _ratio_target("dongle", "p99", P99_TARGET, "the dongle"),
        _discovery_target(),
        *(_cpu_target(size) for size in plan.cpu_sizes),
    ]


def targets_table(plan: Plan, results: Results) -> str:
    this, *others = results.sides
    header = "| target | this tree: measured | floor | |"
    rule = "|---|---|---|---|"
    for other in others:
        header += f" {other.label}: measured | floor | |"
        rule += "---|---|---|"
    lines = [header, rule]
    for target in targets(plan):
        row = f"| {target.text} |"
        for side in [this, *others]:
            measured, floor, met = target.cells(results, side)
            row += f" {measured} | {floor or '—'} | {verdict(met)} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


#: Every figure a job reports, in the order shown, with its meaning and its digits.
LABELS: dict[str, tuple[str, int]] = {
    "p50_ratio": ("/set to result p50 / floor p50", 2),
    "p99_ratio": ("/set to result p99 / floor p99", 2),
    "result_p50_ms": ("/set to result p50, ms", 2),
    "floor_p50_ms": ("floor p50, ms", 2),
    "result_p99_ms": ("/set to result p99, ms", 2),
    "floor_p99_ms": ("floor p99, ms", 2),
    "cpu_ms_per_command": ("bridge CPU per command, ms", 2),
    "state_p50_ms": ("/set to state p50, ms", 2),
    "mqtt_hop_p50_ms": ("MQTT hop p50, ms", 2),
    "http_write_p50_ms": ("direct HTTP write p50, ms", 2),
    "http_read_p50_ms": ("direct HTTP read p50, ms", 2),
    "rss_mib": ("resident once the first refresh is out, MiB", 1),
    "peak_mib": ("highest resident before that, MiB", 1),
    "imports_rss_mib": ("an interpreter with the daemon's imports alone, MiB", 1),
    "cpu_over_floor": ("bridge CPU / library floor CPU, per cycle", 2),
    "cpu_s": ("bridge CPU s per cycle", 3),
    "floor_cpu_s": ("library floor CPU s per cycle", 3),
    "http_floor_cpu_s": ("of which bare aiohttp", 3),
    "mqtt_floor_cpu_s": ("of which bare aiomqtt", 3),
    "cycle_over_floor": ("cycle / ceil(6N/C) x 50 ms", 2),
    "cycle_s": ("cycle s", 3),
    "requests": ("HTTP requests per cycle", 0),
    "messages": ("MQTT messages per cycle", 0),
    "mqtt_bytes": ("MQTT payload bytes per cycle", 0),
    "discovery_bytes_per_cycle": ("discovery bytes per cycle", 0),
    "discovery_bytes_max": ("discovery bytes per inverter (largest)", 0),
    "discovery_bytes_median": ("discovery bytes per inverter (median)", 0),
    "soak_growth_mib": ("resident growth after warm-up, MiB", 1),
    "theirs_s": ("pylxpweb, s", 3),
    "ours_at_most_3_over_theirs": ("ours (3 in flight) / pylxpweb", 2),
    "floor_cpu_s_per_mib": ("floor (finding frame starts), CPU s per MiB", 4),
    "reader_cpu_s_per_mib": ("the reader now, CPU s per MiB", 4),
    "old_reader_cpu_s_per_mib": ("the old reader, CPU s per MiB", 4),
}
WAYS = {"cloud_": "through the cloud", "dongle_": "through the dongle", "adapter_": "through the adapter"}


def _label(figure: str) -> tuple[str, int]:
    if figure in LABELS:
        return LABELS[figure]
    for prefix, way in WAYS.items():
        if figure.startswith(prefix) and figure.removeprefix(prefix) in LABELS:
            label, digits = LABELS[figure.removeprefix(prefix)]
            return f"{way}: {label}", digits
    if figure.startswith("ours_at_most_"):
        return f"ours ({figure.split('_')[3]} in flight) / pylxpweb", 2
    if figure.startswith("fleet") and figure.endswith("_over_floor"):
        return f"refresh of {figure[5:].split('_', maxsplit=1)[0]} over dongles / floor", 2
    return figure.replace("_", " "), 3


def figures_table(plan: Plan, results: Results) -> str:
    this, *others = results.sides
    header = "| benchmark | figure | this tree |"
    rule = "|---|---|---|"
    for other in others:
        header += f" {other.label} | this / {other.label} |"
        rule += "---|---|"
    lines = [header, rule]
    for job in plan.jobs:
        names: list[str] = []
        for side in results.sides:
            for data in results.good(job.key, side):
                names += [name for name in data["figures"] if name not in names]
        names = [name for name in names if not job.shown or name in job.shown]
        names.sort(key=lambda name: list(LABELS).index(name) if name in LABELS else len(LABELS))
        if not names and not any(results.errors(job.key, side) for side in results.sides):
            continue  # nothing to compare (tracemalloc's tables are in its section)
        if not names:
            problems = "; ".join(
                f"{side.label}: {e[0]}" for side in results.sides if (e := results.errors(job.key, side))
            )
            lines.append(f"| {job.title or job.key} | failed | {problems} |" + " |" * (2 * len(others)))
            continue
        for name in names:
            label, digits = _label(name)
            mine = results.spread(job.key, this, name)
            row = f"| {job.title or job.key} | {label} | {mine.text(digits) if mine else '—'} |"
            for other in others:
                theirs = results.spread(job.key, other, name)
                change = f"{mine.median / theirs.median:.2f}" if mine and theirs and theirs.median else "—"
                row += f" {theirs.text(digits) if theirs else '—'} | {change} |"
            lines.append(row)
    return "\n".join(lines) + "\n"


def per_side(results: Results, render: Callable[[Side], str | None]) -> str:
    """A section's text for this tree, and for each compared commit under its own heading."""
    parts = []
    for side in results.sides:
        text = render(side)
        if text is None:
            errors = [e for key in results.outcomes for e in results.errors(key, side)]
            text = "Not measured" + (f" ({errors[0]})" if errors else "") + ".\n"
        parts.append(text if len(results.sides) == 1 else f"**{side.label}**:\n\n{text}")
    return "\n".join(parts)


def _markdown_of(results: Results, key: str, figure: str | None = None) -> Callable[[Side], str | None]:
    def render(side: Side) -> str | None:
        data = results.median_run(key, side, figure) if figure else next(iter(results.good(key, side)), None)
        if data is None:
            errors = results.errors(key, side)
            return f"Failed: {errors[0]}\n" if errors else None
        text: str | None = data.get("markdown")
        return text

    return render


def memory_section(plan: Plan, results: Results) -> str:
    def resident(side: Side) -> str | None:
        lines = []
        for job in plan.jobs:
            if job.key.startswith("rss"):
                rss = results.spread(job.key, side, "rss_mib")
                peak = results.spread(job.key, side, "peak_mib")
                imports = results.spread(job.key, side, "imports_rss_mib")
                if rss and peak and imports:
                    lines.append(
                        f"- {job.key[3:]} inverters: {rss.text(1, ' MiB')} once the first refresh is out "
                        f"(highest before: {peak.median:.1f} MiB); an interpreter that has imported the "
                        f"daemon's modules and done nothing else: {imports.median:.1f} MiB."
                    )
        tracemalloc = results.first_with("tracemalloc", side, lambda data: data.get("traced_markdown"))
        if not lines and not tracemalloc:
            return None
        return "\n".join(lines) + "\n\n" + (tracemalloc or "tracemalloc: not measured.\n")

    return "\n".join(
        [
            "## Memory",
            "",
            "Resident set size of `eg4-bridge run` in its own process, read from /proc once it is healthy",
            "(first refresh done) and everything it had queued is out: a subscriber of the benchmark's own",
            "has received its answer to a presence request, which leaves its outbox after all that was",
            "queued before; then what dominates, by tracemalloc, with the bridge traced in a process of its",
            "own from its first import.",
            "",
            per_side(results, resident),
        ]
    )


def latency_section(results: Results) -> str:
    return "\n".join(
        [
            "## Command latency through the cloud",
            "",
            "Time from publishing `/set` to receiving its result, one command at a time, against the floor",
            "of what a command must cross, each part measured alone in the same run: two MQTT",
            "publish-to-receive hops (the `/set` in, the result out), one direct HTTP write and one direct",
            "one-register read (the read-back that confirms the write). The simulated cloud answers at once.",
            "CPU per command: the bridge process's user and system time over the commands, divided by them.",
            "The tables are those of the run with the median p50 ratio.",
            "",
            per_side(results, _markdown_of(results, "latency", "p50_ratio")),
        ]
    )


def dongle_section(results: Results) -> str:
    return "\n".join(
        [
            "## Command latency through the dongle",
            "",
            "The same command with the inverter reached through its WiFi dongle (`transport: local`), the",
            "simulated dongle answering after 20 ms; the floor is two MQTT hops plus one register write and",
            "one register read sent as raw frames on a socket of the benchmark's own. The charge current",
            "fills its register alone, so the bridge writes it without reading it first (it does so only",
            "where a flag or a schedule byte shares the register). The run with the median p50 ratio:",
            "",
            per_side(results, _markdown_of(results, "dongle", "p50_ratio")),
        ]
    )


def discovery_section(results: Results) -> str:
    def render(side: Side) -> str | None:
        data = results.median_run("cpu100", side, "cpu_over_floor")
        if data is None:
            return None
        row = data["row"]
        sizes = row["discovery_bytes"]
        n = row["inverters"]
        return (
            f"{n} inverters: each inverter's retained config is {min(sizes):,} to {max(sizes):,} bytes "
            f"(median {statistics.median(sizes):,.0f}); every refresh cycle publishes "
            f"{row['discovery_bytes_per_cycle']:,.0f} bytes of discovery again (QoS 0), of "
            f"{row['mqtt_bytes_per_cycle']:,.0f} MQTT payload bytes in {row['messages_per_cycle']:,.0f} "
            f"messages per cycle. The rest of what is retained for a new subscriber: "
            f"{row['retained_bytes'] / n:,.0f} bytes per inverter.\n"
        )

    return "\n".join(
        [
            "## Discovery",
            "",
            "Payload sizes of the retained `homeassistant/device/eg4_<sn>/config` messages as a subscriber",
            "of the benchmark's own (a real broker client, in its own process) receives them once the first",
            "refresh is out, and the discovery bytes it receives during each refresh cycle (from the CPU",
            "benchmark below, its median run).",
            "",
            per_side(results, render),
        ]
    )


def cpu_section(plan: Plan, results: Results) -> str:
    def render(side: Side) -> str | None:
        rows = []
        for size in plan.cpu_sizes:
            for data in results.good(f"cpu{size}", side):
                rows.append(fleet.FleetRow(**data["row"]).markdown())
        if not rows:
            return None
        profile = results.first_with("cpu100", side, lambda data: data["row"].get("profile"))
        text = "Every run:\n\n" + fleet.HEADER + "\n".join(rows) + "\n"
        if profile:
            text += (
                "\ncProfile of one more refresh cycle of 100 inverters (CPU time; event-loop plumbing "
                "left out):\n\n"
            )
            text += fleet.profile_markdown(profile)
        return text

    return "\n".join(
        [
            "## CPU per refresh cycle against its library floor",
            "",
            "The bridge in the benchmark's process (so that `time.process_time` counts its CPU), asked for a",
            "full refresh over MQTT; the simulator (answering after 50 ms), the broker and a subscriber that",
            "records every message run in processes of their own. Bridge CPU: from the request to its",
            "answer, plus 0.2 s for the last acknowledgements. Library floor, in the same process and run:",
            "the same HTTP requests, path by path, through a bare aiohttp session against the same simulator",
            "with as many in flight (each answer read and its JSON decoded), plus the same MQTT messages",
            "(count, sizes, QoS, retain) through a bare aiomqtt client to the same broker, ten at a time as",
            "the bridge sends them. Medians of each run's cycles.",
            "",
            per_side(results, render),
        ]
    )


def fleet_section(plan: Plan, results: Results) -> str:
    def render(side: Side) -> str | None:
        rows = [
            fleet.FleetRow(**data["row"]).markdown()
            for job in plan.jobs
            if job.module == "fleet" and not job.key.startswith("cpu")
            for data in results.good(job.key, side)
        ]
        return fleet.HEADER + "\n".join(rows) + "\n" if rows else None

    return "\n".join(
        [
            "## Fleet refresh at other sizes (one run each)",
            "",
            "Floor: ceil(6 x inverters / concurrency) x 50 ms (runtime, three parameter windows, the energy",
            "counters and the battery modules); `bare aiohttp s` is the same requests sent by a bare client,",
            "measured.",
            "",
            per_side(results, render),
        ]
    )


def once_section(title: str, intro: list[str], results: Results, key: str, field_name: str) -> str:
    def render(side: Side) -> str | None:
        return results.first_with(key, side, lambda data: data.get(field_name)) or _markdown_of(results, key)(
            side
        )

    return "\n".join([f"## {title}", "", *intro, *([""] if intro else []), per_side(results, render)])


def load_average() -> str:
    """The machine's load over the last minute: other work on it weighs on every figure."""
    return Path("/proc/loadavg").read_text().split()[0]


def report(plan: Plan, results: Results, *, command: str, took: float, load: tuple[str, str]) -> str:
    this, *others = results.sides
    compared = "".join(
        f" Compared with {other.describe()}, checked out with `git worktree add`; the runs of both sides "
        "alternate."
        for other in others
    )
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, in {took:.0f} s ({plan.name} "
            f"mode). Headline figures were measured {plan.repeat} times, each run in fresh processes, and",
            "read min / **median** / max; a target is judged on its median. Every floor is measured in the",
            "same run, on the same machine. Nothing here is copied from another day's run.",
            "",
            f"Measured: {this.describe()}.{compared}",
            "",
            machine().markdown()
            + f"- Load average (1 min) when the run started: {load[0]}; when it ended: {load[1]} (the",
            "  benchmarks themselves add about 1; more means other work shared the machine's cores).",
            "",
            "## Targets (issue 22)",
            "",
            "Each target judged on the median of its runs (min / **median** / max shown); 8 KB read as",
            "8,000 bytes. Floors are the medians of the floors measured in the same runs.",
            "",
            targets_table(plan, results),
            "## All figures",
            "",
            figures_table(plan, results),
            *sections(plan, results),
        ]
    )


def sections(plan: Plan, results: Results) -> list[str]:
    """The detailed sections of the benchmarks this plan ran, numbered as they come."""
    ran = {job.key for job in plan.jobs}
    fleet_keys = {job.key for job in plan.jobs if job.key.startswith("fleet")}
    chosen: list[tuple[set[str], Callable[[], str]]] = [
        ({"rss100", "rss1000", "tracemalloc"}, lambda: memory_section(plan, results)),
        ({"latency"}, lambda: latency_section(results)),
        ({"dongle"}, lambda: dongle_section(results)),
        ({"cpu100"}, lambda: discovery_section(results)),
        ({"cpu100", "cpu1000"}, lambda: cpu_section(plan, results)),
        (fleet_keys, lambda: fleet_section(plan, results)),
        ({"local"}, lambda: once_section(LOCAL_TITLE, LOCAL_INTRO, results, "local", "markdown")),
        (
            {"soak"},
            lambda: once_section("Memory over many refresh cycles", [], results, "soak", "soak_markdown"),
        ),
        ({"pylxpweb"}, lambda: once_section(PYLXPWEB_TITLE, PYLXPWEB_INTRO, results, "pylxpweb", "markdown")),
        ({"flood"}, lambda: once_section(FLOOD_TITLE, FLOOD_INTRO, results, "flood", "markdown")),
    ]
    texts = [render() for keys, render in chosen if keys & ran]
    return [text.replace("## ", f"## {number}. ", 1) for number, text in enumerate(texts, 1)]


LOCAL_TITLE = "Local control: the same command through the cloud, the dongle and a Modbus TCP adapter"
LOCAL_INTRO = [
    "Each against its own floor (two MQTT hops plus one write and one read-back through that door), the",
    "cloud answering after 300 ms, dongles and the adapter after 20 ms; and a fleet refresh over dongles",
    "(`python -m bench.local`).",
]
PYLXPWEB_TITLE = "Against pylxpweb (three parameter windows per inverter, 50 ms per request)"
PYLXPWEB_INTRO = [
    "pylxpweb sends every request at once; this project's client keeps at most 3 in flight per account by",
    "default (the reference integration's limit: the cloud is shared). Both are shown.",
]
FLOOD_TITLE = "A flood at the dongle's address (`python -m bench.dongle_garbage`)"
FLOOD_INTRO = [
    "A peer at the dongle's address sending a frame start every 20 bytes, each claiming a 580-byte frame,",
    "against the floor (finding the frame starts) and the old reader (a bit-by-bit CRC per claimed frame),",
    "both measured in the same run.",
]


# -- the command -------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes (the default)")
    mode.add_argument("--full", action="store_true", help="every size the targets name")
    parser.add_argument(
        "--repeat", type=int, help="runs of each headline figure (default: 3 in quick mode, 5 in full)"
    )
    parser.add_argument(
        "--compare", metavar="REF", help="also measure the bridge of this commit, side by side"
    )
    parser.add_argument(
        "--only", metavar="KEYS", help="comma-separated benchmarks (or their prefixes: rss, fleet) to run"
    )
    parser.add_argument(
        "--output", type=Path, help="where to write the report (bench/RESULTS.md, unless --only is given)"
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would run, in order, and stop")
    return parser


def plan_of(args: argparse.Namespace) -> Plan:
    plan = FULL if args.full else QUICK
    if args.repeat is not None:
        if args.repeat < 1:
            raise ValueError("--repeat must be 1 or more")
        plan = replace(plan, repeat=args.repeat)
    if args.only:
        wanted = [key.strip() for key in args.only.split(",") if key.strip()]
        jobs = tuple(job for job in plan.jobs if any(job.key.startswith(key) for key in wanted))
        unknown = [key for key in wanted if not any(job.key.startswith(key) for job in plan.jobs)]
        if unknown:
            known = ", ".join(job.key for job in plan.jobs)
            raise ValueError(
                f"--only: no benchmark {', '.join(unknown)} in {plan.name} mode (there are {known})"
            )
        plan = replace(plan, jobs=jobs)
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        plan = plan_of(args)
        if args.compare:
            resolve(args.compare)
    except ValueError as exc:
        print(f"python -m bench.run: {exc}", file=sys.stderr)
        return 2
    output = args.output or (None if args.only else HERE / "RESULTS.md")
    this = this_tree()
    if args.dry_run:
        sides = [this] + ([Side(args.compare, Path(args.compare), args.compare)] if args.compare else [])
        for number, step in enumerate(schedule(plan, sides), 1):
            print(f"{number}. {step.describe()}")
        print(f"report: {output or 'printed only'}")
        return 0
    started, load_at_start = time.monotonic(), load_average()
    with ExitStack() as stack:
        sides = [this]
        if args.compare:
            sides.append(stack.enter_context(worktree(args.compare)))
        runner = stack.enter_context(Runner())
        results = measure(plan, sides, runner)
    command = " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])])
    took = time.monotonic() - started
    text = report(plan, results, command=command, took=took, load=(load_at_start, load_average()))
    if output is not None:
        output.write_text(text)
    print(text)
    failed = [key for key in results.outcomes if results.errors(key, this)]
    if failed:
        print(f"failed on this tree: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
