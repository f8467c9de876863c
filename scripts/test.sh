#!/usr/bin/env bash
# Sets up .venv (Python 3.11+) with the connector, its test tools and PyAirbyte (the quick
# start is tested too), then runs every test: the unit tests, and the end-to-end suite
# against the local 7moor emulator (in-process, on a virtual clock for retry waits; the
# signal, closed-pipe and kill tests run the command installed from a freshly built wheel).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup_venv.sh dev,quickstart

# The committed schemas and the figures README.md and docs/ quote are checked by tests
# (test_schema.py, test_generated_docs.py), in the run below.
# Three workers on two cores: the few tests that wait in real time (network timeouts, a
# subprocess starting) leave a core idle that a third worker uses. Tests go to the workers
# one at a time, in the order conftest.py sets (the long ones first), so the run ends evenly.
exec .venv/bin/python -m pytest -n 3 --maxschedchunk 1 "$@"
