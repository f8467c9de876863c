# Sourced by build_image.sh and test_image.sh: a Docker engine for the duration of the calling
# script. Installs Debian's docker.io (and debootstrap, which build_image.sh needs) when
# missing, starts dockerd as root when no engine answers, and stops the dockerd it started,
# by its PID, when the calling script exits. An engine that was already running is left alone.

MOOR7_DOCKERD_PID=${MOOR7_DOCKERD_PID:-}

docker_engine_say() { echo "==> $*" >&2; }

docker_engine_tools() {
    local missing=() before
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || { echo "${missing[*]} missing: run as root to install them, or install them first." >&2; return 1; }
    docker_engine_say "installing ${missing[*]} from Debian"
    apt-get update -q >&2
    before=$(pgrep -x dockerd || true)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    # Where a package's maintainer script started the service, it is ours to stop at the end.
    local started
    started=$(comm -13 <(echo "$before") <(pgrep -x dockerd || true) | head -1)
    [[ -z $started ]] || MOOR7_DOCKERD_PID=$started
}

docker_engine_stop() {
    local pid=$MOOR7_DOCKERD_PID
    [[ -n $pid ]] || return 0
    MOOR7_DOCKERD_PID=""
    kill -0 "$pid" 2>/dev/null || return 0
    docker_engine_say "stopping the dockerd this run started (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    echo "dockerd (pid $pid) did not stop within 30 s" >&2
}

# docker_engine_start LOGFILE: returns once `docker info` answers.
docker_engine_start() {
    local log=$1
    docker info >/dev/null 2>&1 && return 0
    [[ $(id -u) == 0 ]] || { echo "No Docker engine answers, and starting dockerd needs root." >&2; return 1; }
    mkdir -p "$(dirname "$log")"
    docker_engine_say "starting dockerd (log: $log)"
    dockerd >"$log" 2>&1 &
    MOOR7_DOCKERD_PID=$!
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$MOOR7_DOCKERD_PID" 2>/dev/null || { tail -20 "$log" >&2; echo "dockerd exited; see $log" >&2; return 1; }
        sleep 0.5
    done
    echo "dockerd did not answer within 60 s; see $log" >&2
    return 1
}
