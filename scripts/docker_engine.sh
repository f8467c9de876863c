# Sourced by build_image.sh and test_image.sh: a Docker engine for the duration of the calling
# script. Installs Debian's docker.io (and debootstrap, which build_image.sh needs) when
# missing, starts dockerd as root when no engine answers, and stops the dockerd it started,
# by its PID, when the calling script exits. An engine that was already running is left alone.
#
# What this script started is known only from its own variables, set here and never read
# from the environment: a PID handed in by a caller (or left over in an exported variable)
# could name any process. The PID is kept with the process's start time, and is signalled only
# while both still match, so a PID reused by another process is never killed.

_moor7_dockerd_pid=""
_moor7_dockerd_started_at=""

docker_engine_say() { echo "==> $*" >&2; }

# The start time of a process (clock ticks since boot, field 22 of /proc/PID/stat).
_moor7_start_time() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

_moor7_adopt() {
    _moor7_dockerd_pid=$1
    _moor7_dockerd_started_at=$(_moor7_start_time "$1")
}

docker_engine_tools() {
    local missing=() before started
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || { echo "${missing[*]} missing: run as root to install them, or install them first." >&2; return 1; }
    docker_engine_say "installing ${missing[*]} from Debian"
    apt-get update -q >&2
    before=$(pgrep -x dockerd || true)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    # Where the package's maintainer script started the service during this install, it is
    # ours to stop at the end: a dockerd that was not there before the install.
    started=$(comm -13 <(echo "$before" | sort) <(pgrep -x dockerd | sort || true) | head -1)
    [[ -z $started ]] || _moor7_adopt "$started"
}

docker_engine_stop() {
    local pid=$_moor7_dockerd_pid started_at=$_moor7_dockerd_started_at
    _moor7_dockerd_pid=""
    _moor7_dockerd_started_at=""
    [[ -n $pid ]] || return 0
    if [[ -z $started_at || $(_moor7_start_time "$pid") != "$started_at" ]]; then
        return 0 # gone, or the PID now belongs to another process
    fi
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
    _moor7_adopt $!
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$_moor7_dockerd_pid" 2>/dev/null || { tail -20 "$log" >&2; echo "dockerd exited; see $log" >&2; return 1; }
        sleep 0.5
    done
    echo "dockerd did not answer within 60 s; see $log" >&2
    return 1
}
