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
# In random order (pytest-randomly), with a timeout per test and a coverage gate on bridge/ (pyproject.toml).
.venv/bin/pytest --cov --cov-report=term "$@"
