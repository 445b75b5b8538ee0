"""Hooks for the whole suite: markers by directory, and docs/RELIABILITY.md checked at the end of a run.

The end-to-end tests' fixtures (the simulator, a cloud client, a real mosquitto) are in tests/e2e/conftest.py;
the helpers they import are in tests/harness.py. These hooks stay here, at the top: pytest-xdist's controller
collects no tests, so it never loads tests/e2e/conftest.py, yet gathers what the workers recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability import check_report, gather, recorded_as_json

UNIT_TESTS = Path(__file__).parent / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """tests/unit is `unit` (run alone: `pytest -m unit`, seconds); everything else (tests/e2e) is `e2e`."""
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
