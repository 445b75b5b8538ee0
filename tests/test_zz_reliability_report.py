"""docs/RELIABILITY.md says exactly what this run's fault and bad-input tests observed (runs last)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability import EXPECTED, RECORDED, render

REPORT = Path(__file__).parent.parent / "docs" / "RELIABILITY.md"


def test_the_reliability_report_matches_what_the_tests_observed() -> None:
    missing = [name for name in EXPECTED if name not in RECORDED]
    if missing:
        pytest.skip(f"a partial run: {len(missing)} trials did not run")
    rendered = render()
    if os.environ.get("EG4_WRITE_RELIABILITY") == "1":
        REPORT.write_text(rendered)
    assert REPORT.read_text() == rendered, (
        "docs/RELIABILITY.md is stale: EG4_WRITE_RELIABILITY=1 bash tests/run.sh"
    )
