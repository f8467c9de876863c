#!/usr/bin/env bash
# Sets up .venv (Python 3.11+) with the connector, its test tools and PyAirbyte (the quick
# start is tested too), then runs every test: the unit tests, and the end-to-end suite
# against the local 7moor emulator (in-process, on a virtual clock for retry waits; the
# signal, closed-pipe and kill tests run the command installed from a freshly built wheel).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# The install is skipped when the files it reads are those of the last install (the package
# is installed editable, so its code needs no reinstall).
stamp=$(cat pyproject.toml poetry.lock scripts/lock_constraints.py scripts/test.sh | .venv/bin/python -c \
  'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read() + sys.version.encode()).hexdigest())')
if [ "$(cat .venv/.test-install-stamp 2>/dev/null)" != "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  # The versions poetry.lock pins (scripts/lock_constraints.py), installed with pip.
  mkdir -p build && .venv/bin/python scripts/lock_constraints.py > build/constraints.txt
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c build/constraints.txt -e ".[dev,quickstart]"
  echo "$stamp" > .venv/.test-install-stamp
fi

.venv/bin/python scripts/generate_schemas.py --check
# Three workers on two cores: the few tests that wait in real time (network timeouts, a
# subprocess starting) leave a core idle that a third worker uses. Tests go to the workers
# one at a time, in the order conftest.py sets (the long ones first), so the run ends evenly.
exec .venv/bin/python -m pytest -n 3 --maxschedchunk 1 "$@"
