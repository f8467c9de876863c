#!/usr/bin/env bash
# Sets up .venv (Python 3.11+, or $PYTHON) with the connector installed editable and the
# extras named in $1 ("dev,quickstart", "quickstart", or none), at the versions poetry.lock
# pins (scripts/lock_constraints.py), with pip. The install is skipped when its inputs are
# those of the last install and that install had every extra asked for now.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
inputs=$(cat pyproject.toml poetry.lock scripts/lock_constraints.py scripts/setup_venv.sh | .venv/bin/python -c \
  'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read() + sys.version.encode()).hexdigest())')
if .venv/bin/python - "$inputs" "$extras" <<'PY'
import sys
from pathlib import Path

inputs, asked = sys.argv[1], {e for e in sys.argv[2].split(",") if e}
stamp = Path(".venv/.install-stamp")
done = stamp.read_text().split() if stamp.exists() else []
sys.exit(0 if done[:1] == [inputs] and asked <= set(",".join(done[1:]).split(",")) else 1)
PY
then
  exit 0
fi
echo "==> installing the connector${extras:+ with $extras} into .venv (the first time takes a few minutes)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
mkdir -p build && .venv/bin/python scripts/lock_constraints.py > build/constraints.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c build/constraints.txt -e ".${extras:+[$extras]}"
echo "$inputs $extras" > .venv/.install-stamp
