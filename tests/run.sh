#!/usr/bin/env bash
# Set up (a virtual environment with the project and its test tools) and run every check:
# ruff, mypy --strict and the test suite. Needs python3 >= 3.11 and mosquitto on the PATH or in /usr/sbin.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check bridge tests bench
.venv/bin/ruff format --check bridge tests bench
.venv/bin/mypy
if [ "$#" -eq 0 ]; then
  # Everything, in random order (pytest-randomly), with a timeout per test and a coverage gate on bridge/
  # (pyproject.toml), on four workers (pytest-xdist): the end-to-end tests mostly wait on sockets, so four
  # finish in 3 minutes on two cores where two workers took 5. Each file's tests run in one worker: a
  # module's shared bridge, and what it records for docs/RELIABILITY.md, stay whole.
  .venv/bin/pytest -n 4 --dist loadfile --cov --cov-report=term
else
  # A part (`-m unit`, a file, `-k ...`): in this process, and no coverage gate, as a part covers less.
  .venv/bin/pytest --cov --cov-report=term --cov-fail-under=0 "$@"
fi
