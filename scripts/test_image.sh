#!/usr/bin/env bash
# Builds the connector image (scripts/build_image.sh) and runs the image test against it
# (integration_tests/test_image.py): the layout of Airbyte's python-connector-base; spec,
# check, discover, a read, an incremental read and the scenarios of acceptance-test-config.yml,
# each as the platform runs a connector (read-only root, tmpfs /tmp, no capabilities, no new
# privileges, config under /config) with `--network host` against the emulator on
# 127.0.0.1; and a PyAirbyte sync from the image into DuckDB. Fails if the build left an
# untagged (dangling) image behind. Keeps one Docker engine up for both (started here if none
# runs, stopped on exit). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source "$ROOT/scripts/docker_engine.sh"
trap docker_engine_stop EXIT
docker_engine_tools
docker_engine_start "$ROOT/build/dockerd.log"

bash scripts/setup_venv.sh dev,quickstart

dangling_before=$(docker images -q -f dangling=true | sort)
start=$(date +%s)
IMAGE=$(bash scripts/build_image.sh | tail -1)
echo "==> built $IMAGE in $(( $(date +%s) - start )) s; size $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
new_dangling=$(comm -13 <(echo "$dangling_before") <(docker images -q -f dangling=true | sort))
if [[ -n $new_dangling ]]; then
    echo "test_image.sh: the build left untagged images behind: $(echo $new_dangling)" >&2
    exit 1
fi
echo "==> no untagged image left behind (docker images -f dangling=true unchanged)"
MOOR7_IMAGE=$IMAGE .venv/bin/python -m pytest -m image integration_tests/test_image.py -p no:cacheprovider -W ignore::FutureWarning "$@"
