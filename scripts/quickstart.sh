#!/usr/bin/env bash
# One command from a fresh clone: set up, start the local 7moor emulator, and sync all three
# streams through PyAirbyte into a local DuckDB database.
#
#   bash scripts/quickstart.sh                       # the embedded default: the emulator
#   bash scripts/quickstart.sh path/to/config.json   # a real 7moor account
#   MOOR7_CONFIG=path/to/config.json bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> installing the connector and PyAirbyte into .venv (the first time takes a few minutes)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# The versions poetry.lock pins (scripts/lock_constraints.py), installed with pip.
mkdir -p build && .venv/bin/python scripts/lock_constraints.py > build/constraints.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c build/constraints.txt -e ".[quickstart]"
exec .venv/bin/python scripts/quickstart.py "$@"
