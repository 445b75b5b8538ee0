#!/usr/bin/env bash
# Mutation testing against the unit tests of the pure modules (catalogue, command parsing, command policy,
# the dongle's frame codec and register table), the write queue, the router and the dongle connection
# (`only_mutate` in pyproject.toml): each surviving mutant is a change of behaviour that no test notices.
# Run after `bash tests/run.sh` has made .venv. Prints the survivors and the score; a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf mutants
.venv/bin/mutmut run >/dev/null 2>&1 || true
.venv/bin/mutmut results
.venv/bin/mutmut export-cicd-stats >/dev/null
.venv/bin/python - <<'PY'
import json
stats = json.load(open("mutants/mutmut-cicd-stats.json"))
print(f"killed {stats['killed']} of {stats['total']} mutants: {100 * stats['killed'] / stats['total']:.1f} %")
PY
