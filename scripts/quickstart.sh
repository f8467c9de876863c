#!/usr/bin/env bash
# One command from a fresh clone: set up, start the local 7moor emulator, and sync all three
# streams through PyAirbyte into a local DuckDB database.
#
#   bash scripts/quickstart.sh                       # the embedded default: the emulator
#   bash scripts/quickstart.sh path/to/config.json   # a real 7moor account
#   MOOR7_CONFIG=path/to/config.json bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# PyAirbyte and DuckDB come with the quickstart extra; an unchanged install is skipped.
bash scripts/setup_venv.sh quickstart
exec .venv/bin/python scripts/quickstart.py "$@"
