#!/usr/bin/env bash
# Sets up .venv (as scripts/test.sh does) and runs the benchmark against the local 7moor
# emulator; extra arguments go to scripts/bench.py (--quick for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/python scripts/bench.py "$@"
