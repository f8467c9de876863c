#!/usr/bin/env bash
# Sets up .venv (Python 3.11+) with the connector, its test tools and PyAirbyte (the quick
# start is tested too), then runs every test:
# the unit tests, and the end-to-end suite (the wheel installed in a fresh venv, run as a
# command against the local 7moor emulator). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# The versions poetry.lock pins (scripts/lock_constraints.py), installed with pip.
mkdir -p build && .venv/bin/python scripts/lock_constraints.py > build/constraints.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c build/constraints.txt -e ".[dev,quickstart]"

.venv/bin/python scripts/generate_schemas.py --check
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
