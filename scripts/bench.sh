#!/usr/bin/env bash
# Sets up .venv (scripts/setup_venv.sh) and runs the benchmark against the local 7moor
# emulator; extra arguments go to scripts/bench.py (--quick for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup_venv.sh
exec .venv/bin/python scripts/bench.py "$@"
