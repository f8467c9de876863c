#!/usr/bin/env bash
# Builds the connector image (scripts/build_image.sh) and runs the image test against it:
# spec, check, discover, a read and an incremental read from `docker run --network host`
# against the emulator on 127.0.0.1, the non-root user, and a PyAirbyte sync from the image
# into DuckDB. Keeps one Docker engine up for both (started here if none runs, stopped on
# exit). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source "$ROOT/scripts/docker_engine.sh"
trap docker_engine_stop EXIT
docker_engine_tools
docker_engine_start "$ROOT/build/dockerd.log"

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# The versions poetry.lock pins (scripts/lock_constraints.py), installed with pip.
mkdir -p build && .venv/bin/python scripts/lock_constraints.py > build/constraints.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c build/constraints.txt -e ".[dev,quickstart]"

start=$(date +%s)
IMAGE=$(bash scripts/build_image.sh | tail -1)
echo "==> built $IMAGE in $(( $(date +%s) - start )) s; size $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
MOOR7_IMAGE=$IMAGE .venv/bin/python -m pytest -m image integration_tests/test_image.py -p no:cacheprovider -W ignore::FutureWarning "$@"
