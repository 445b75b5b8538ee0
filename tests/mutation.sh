#!/usr/bin/env bash
# Mutation testing of the pure modules (catalogue, command parsing, command policy) against the unit tests:
# each surviving mutant is a change of behaviour that no test notices. Run after `bash tests/run.sh` has
# made .venv. Prints the survivors and the score; about a minute.
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
