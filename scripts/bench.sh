#!/usr/bin/env bash
# Sets up .venv (as scripts/test.sh does) and runs the benchmark against the local 7moor
# emulator; extra arguments go to scripts/bench.py (--quick for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# The versions poetry.lock pins (scripts/lock_constraints.py), installed with pip.
mkdir -p build && .venv/bin/python scripts/lock_constraints.py > build/constraints.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c build/constraints.txt -e .
exec .venv/bin/python scripts/bench.py "$@"
