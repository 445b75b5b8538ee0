#!/usr/bin/env bash
# Stage the bridge's wheel into the add-on's folder, which is all the Supervisor builds the image from.
# Run it from a checkout after changing the bridge (a test fails while the staged wheel is stale):
#   bash eg4_mqtt_bridge/stage-wheel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] && python=.venv/bin/python
rm -rf eg4_mqtt_bridge/wheels
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir eg4_mqtt_bridge/wheels .
ls eg4_mqtt_bridge/wheels
