"""What the fault and bad-input tests tried and saw, gathered during a run into docs/RELIABILITY.md.

Each such test calls `record()` with what it counted (commands sent, results seen) and a sentence whose every
claim it asserted. When a run has recorded every trial, whatever the order the tests ran in, the session's
end (`pytest_sessionfinish` in conftest.py) renders the table and fails the run if the document says
otherwise (with pytest-xdist, in the controller, from what every worker recorded); `EG4_WRITE_RELIABILITY=1 bash tests/run.sh` rewrites the document instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

REPORT = Path(__file__).parent.parent / "docs" / "RELIABILITY.md"
#: What a run observed, kept when it differs from the report, to compare.
OBSERVED = Path(__file__).parent.parent / ".test-artifacts" / "RELIABILITY.observed.md"


@dataclass(frozen=True, slots=True)
class Trial:
    kind: str  # "fault" or "bad input"
    name: str
    tries: int
    observed: str


#: Every trial a full run records, in the order of the report.
EXPECTED = (
    "broker killed and restarted while commands arrive",
    "cloud unreachable, then back",
    "HTTP 500 and DATAFRAME_TIMEOUT bursts during writes",
    "persistent DATAFRAME_TIMEOUT on a write",
    "session expiry during a write",
    "a write that times out and lands after a newer command",
    "a second bridge started on the same base topic",
    "cloud unreachable with polls a minute apart",
    "the broker link ending on an unexpected error",
    "broker credentials refused at start",
    "a login refused for another reason than the password",
    "the demo run on a broker a real bridge uses",
    "inverter going offline during a write",
    "slow cloud while Home Assistant's birth message arrives",
    "broker away while messages pile up",
    "/set payloads: any bytes, huge, non-UTF-8, JSON, numbers in every notation",
    "/set topics: unknown serials, unknown parameters, extra levels",
    "a /set whose /result topic would exceed 65,535 bytes",
    "devices whose serial holds +, # or / or is not 10 letters and digits",
    "cloud refusals that hold TIMEOUT or BUSY",
    "limits for a serial the account does not have",
    "an emptied retained /set",
    "malformed cloud answers: HTML, truncated JSON, wrong types, missing keys, huge bodies",
    "config files: wrong types, unknown keys, missing sections, world-readable secrets",
    "hybrid transport with the dongle silent",
    "dongle connection dropped mid-write",
    "heartbeats, misrouted replies and exception replies from the dongle",
    "a refresh request of `[` repeated 100,000 times",
)

RECORDED: dict[str, Trial] = {}


def record(kind: str, name: str, tries: int, observed: str) -> None:
    assert name in EXPECTED, f"add {name!r} to EXPECTED"
    RECORDED[name] = Trial(kind, name, tries, observed)


def recorded_as_json() -> str:
    """What this process recorded, for the process that checks the report (with pytest-xdist, each worker
    records the tests it ran and the controller gathers them)."""
    return json.dumps([[trial.kind, trial.name, trial.tries, trial.observed] for trial in RECORDED.values()])


def gather(text: str) -> None:
    """Add what another process recorded (`recorded_as_json`)."""
    for kind, name, tries, observed in json.loads(text):
        RECORDED[name] = Trial(kind, name, tries, observed)


def render() -> str:
    lines = [
        "# Reliability: faults survived and bad input refused",
        "",
        "Generated from the test suite (`tests/reliability.py`); every number below was measured by the run",
        "that wrote it, against a real mosquitto and the cloud simulator over HTTP. A test fails when this page",
        "and the tests disagree. Rewrite it with `EG4_WRITE_RELIABILITY=1 bash tests/run.sh`.",
        "",
        "| what was tried | kind | times | what was observed |",
        "|---|---|---|---|",
    ]
    for name in EXPECTED:
        trial = RECORDED[name]
        lines.append(f"| {trial.name} | {trial.kind} | {trial.tries} | {trial.observed} |")
    return "\n".join(lines) + "\n"


def check_report(*, rewrite: bool | None = None) -> str | None:
    """After a run: `None` when the report is current (or the run was partial), else what is wrong."""
    missing = [name for name in EXPECTED if name not in RECORDED]
    if missing:
        return None  # a partial run proves nothing either way
    rendered = render()
    if rewrite if rewrite is not None else os.environ.get("EG4_WRITE_RELIABILITY") == "1":
        REPORT.write_text(rendered)
    if REPORT.read_text() != rendered:
        OBSERVED.parent.mkdir(exist_ok=True)
        OBSERVED.write_text(rendered)
        return (
            f"docs/RELIABILITY.md differs from what this run observed ({OBSERVED.relative_to(REPORT.parent.parent)}"
            "): EG4_WRITE_RELIABILITY=1 bash tests/run.sh"
        )
    return None
