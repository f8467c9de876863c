#!/usr/bin/env bash
# Builds the connector's Docker image on a machine with no container registry: the base is
# made from Debian packages (debootstrap of bookworm, then `docker import`) with the layout of
# Airbyte's python-connector-base (UTC; user airbyte, uid 1000, owning /config, /secrets,
# /custom_cache and /tmp; CPython 3.11 and pip 24.0 in /usr/local/bin;
# /airbyte/integration_code), and the connector is installed from wheels built here on the
# host at poetry.lock's versions, so nothing inside the build needs the network.
#
#   bash scripts/build_image.sh      # prints the image's name:tag as its last line
#
# Installs Debian's docker.io and debootstrap when missing, and starts dockerd when none
# runs (stopping it again on exit). Root is needed for both and for debootstrap.
# Environment: IMAGE_TAG (default: dockerImageTag from metadata.yaml), DEBIAN_MIRROR (default:
# the bookworm mirror the host's apt uses). The base image is cached under a tag made from a
# hash of its inputs, the dependencies' image under a hash of pyproject.toml and poetry.lock;
# a rebuild reuses both and builds only the connector's layers. A build leaves no untagged
# image behind: the image its tag named before is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=$ROOT/build/image
mkdir -p "$BUILD"

# --- tools and the engine -----------------------------------------------------------------
source "$ROOT/scripts/docker_engine.sh"
cleanup() { docker_engine_stop; [[ -n ${ROOTFS:-} && -d ${ROOTFS:-} ]] && rm -rf "$ROOTFS"; true; }
trap cleanup EXIT
docker_engine_tools
docker_engine_start "$ROOT/build/dockerd.log"
# The classic builder: Debian's engine has no buildx, and nothing here needs BuildKit.
export DOCKER_BUILDKIT=0

# --- names ------------------------------------------------------------------------------
meta() { sed -n "s/^ *$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" metadata.yaml | head -1; }
REPOSITORY=$(meta dockerRepository)
TAG=${IMAGE_TAG:-$(meta dockerImageTag)}
[[ -n $REPOSITORY && -n $TAG ]] || { echo "build_image.sh: metadata.yaml lacks dockerRepository or dockerImageTag" >&2; exit 1; }
IMAGE=$REPOSITORY:$TAG

# --- the base image -----------------------------------------------------------------------
bookworm_mirror() {
    # The first apt source (one-line or deb822) that serves the suite `bookworm` itself.
    local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
    local f
    for f in "${files[@]}"; do
        [[ -f $f ]] || continue
        case $f in
        *.sources)
            awk 'BEGIN{RS=""} /(^|\n)Types:[^\n]*deb( |\n|$)/ && /(^|\n)Suites:([^\n]* )?bookworm( |\n|$)/ {
                    if (match($0, /(^|\n)URIs: *[^ \n]+/)) { s=substr($0, RSTART, RLENGTH); sub(/.*URIs: */, "", s); print s; exit } }' "$f" ;;
        *) awk '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1)=="bookworm") { print $i; exit } }' "$f" ;;
        esac
    done | head -1
}
MIRROR=${DEBIAN_MIRROR:-$(bookworm_mirror)}
[[ -n $MIRROR ]] || { echo "build_image.sh: no apt source for Debian bookworm found in /etc/apt; set DEBIAN_MIRROR to a Debian mirror URL." >&2; exit 1; }

# python3 is 3.11 on bookworm; python3-venv gives pip (ensurepip); tzdata for zoneinfo; CA
# certificates for the real API over HTTPS.
PACKAGES=python3,python3-venv,ca-certificates,tzdata
# The pip of Airbyte's python-connector-base (bookworm's ensurepip has 23.0.1). Its wheel is
# fetched on the host from the package index: nothing inside the build needs the network.
PIP_VERSION=24.0
BASE_DOCKERFILE=$(cat <<'EOF'
ARG ROOTFS
FROM ${ROOTFS}
# The layout of Airbyte's python-connector-base (docker-images/Dockerfile.python-connector-base
# in airbytehq/airbyte): UTC; a system user airbyte, uid and gid 1000, home /nonexistent;
# /airbyte, /custom_cache, /secrets, /config, /nonexistent and /tmp owned by it; Python and
# pip on /usr/local/bin (here a venv made at /usr/local from Debian's CPython 3.11);
# /airbyte/integration_code as the working directory.
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pip-*.whl /tmp/pip/
RUN ln -snf /usr/share/zoneinfo/Etc/UTC /etc/localtime \
 && echo Etc/UTC >/etc/timezone \
 && python3 -m venv /usr/local \
 && /usr/local/bin/python -m pip install -q --no-index /tmp/pip/pip-*.whl \
 && rm -rf /tmp/pip \
 && groupadd --system --gid 1000 airbyte \
 && useradd --system --uid 1000 --gid 1000 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin airbyte \
 && mkdir --mode 755 /airbyte /custom_cache \
 && mkdir -p /airbyte/integration_code /secrets /config /nonexistent \
 && chown -R airbyte:airbyte /airbyte /custom_cache /secrets /config /nonexistent /tmp \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/*
WORKDIR /airbyte/integration_code
USER airbyte
EOF
)
BASE_KEY=$(printf '%s\n' bookworm minbase "$PACKAGES" "$MIRROR" "$(dpkg-query -W -f '${Version}' debootstrap)" "$PIP_VERSION" "$BASE_DOCKERFILE" | sha256sum | cut -c1-12)
BASE_IMAGE=moor7-python-connector-base:bookworm-$BASE_KEY
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    docker_engine_say "reusing the base image $BASE_IMAGE"
else
    [[ $(id -u) == 0 ]] || { echo "build_image.sh: debootstrap needs root to build the base image." >&2; exit 1; }
    rm -rf "$BUILD/base"
    mkdir -p "$BUILD/base"
    "${PYTHON:-python3}" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: -d "$BUILD/base" "pip==$PIP_VERSION" >&2
    ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/moor7-rootfs.XXXXXX")
    docker_engine_say "debootstrap bookworm (minbase + $PACKAGES) from $MIRROR"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" >"$ROOT/build/debootstrap.log" 2>&1 \
        || { tail -20 "$ROOT/build/debootstrap.log" >&2; echo "build_image.sh: debootstrap failed; see build/debootstrap.log" >&2; exit 1; }
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    docker_engine_say "docker import"
    tar -C "$ROOTFS" --numeric-owner -c . | docker import - "moor7-debian-rootfs:bookworm-$BASE_KEY" >/dev/null
    rm -rf "$ROOTFS"
    printf '%s\n' "$BASE_DOCKERFILE" >"$BUILD/base/Dockerfile"
    docker build -q --build-arg "ROOTFS=moor7-debian-rootfs:bookworm-$BASE_KEY" -t "$BASE_IMAGE" "$BUILD/base" >&2
    docker rmi "moor7-debian-rootfs:bookworm-$BASE_KEY" >/dev/null
fi

# --- the wheelhouse ------------------------------------------------------------------------
# Built with the host's Python 3.11 on Linux, the same interpreter version and platform as the
# image's; dependencies come from the package index (or pip's cache) at the versions poetry.lock
# pins, the project from here.
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
    || { echo "build_image.sh: the wheelhouse needs a host Python 3.11 (the image's is 3.11); set PYTHON to one." >&2; exit 1; }
rm -rf "$BUILD/context"
mkdir -p "$BUILD/context/project"
docker_engine_say "building the project's wheel"
"$PY" -m pip wheel -q --no-deps -w "$BUILD/context/project" "$ROOT" >&2 2>"$ROOT/build/wheel.log" \
    || { cat "$ROOT/build/wheel.log" >&2; exit 1; }
shopt -s nullglob
wheels=("$BUILD"/context/project/*.whl)
((${#wheels[@]} == 1)) || { echo "build_image.sh: expected one project wheel, got ${#wheels[@]}" >&2; exit 1; }
"$PY" scripts/lock_constraints.py >"$BUILD/constraints.txt"

# --- the dependencies' image ---------------------------------------------------------------
# The dependencies are installed into an image of their own, tagged by what decides them
# (pyproject.toml, poetry.lock, the base, the host's Python). A rebuild with the same
# dependencies reuses it, and the connector's image copies /usr/local from it; so no build
# leaves an untagged stage behind, and the wheelhouse is never a layer of the image.
DEPS_KEY=$( { cat pyproject.toml poetry.lock; echo "$BASE_IMAGE"; "$PY" -c 'import sys, sysconfig; print(sys.version, sysconfig.get_platform())'; } | sha256sum | cut -c1-12)
DEPS_IMAGE=moor7-source-dependencies:$DEPS_KEY
if docker image inspect "$DEPS_IMAGE" >/dev/null 2>&1; then
    docker_engine_say "reusing the dependencies' image $DEPS_IMAGE"
else
    docker_engine_say "building the dependencies' wheels"
    rm -rf "$BUILD/dependencies"
    mkdir -p "$BUILD/dependencies/wheelhouse"
    "$PY" -m pip wheel -q -c "$BUILD/constraints.txt" -w "$BUILD/dependencies/wheelhouse" "${wheels[0]}" 2>>"$ROOT/build/wheel.log" >&2 \
        || { cat "$ROOT/build/wheel.log" >&2; exit 1; }
    rm -f "$BUILD"/dependencies/wheelhouse/*moor7_im-*.whl
    cat >"$BUILD/dependencies/Dockerfile" <<EOF
FROM $BASE_IMAGE
USER root
COPY wheelhouse /tmp/wheelhouse
RUN pip install -q --no-index --find-links /tmp/wheelhouse /tmp/wheelhouse/*.whl && rm -rf /tmp/wheelhouse
USER airbyte
EOF
    docker_engine_say "building $DEPS_IMAGE"
    docker build -q -t "$DEPS_IMAGE" "$BUILD/dependencies" >&2
    rm -rf "$BUILD/dependencies"
    # Older dependency images are no longer built on; the connector's image holds its own copy.
    for old in $(docker images --format '{{.Repository}}:{{.Tag}}' moor7-source-dependencies); do
        [[ $old == "$DEPS_IMAGE" ]] || docker rmi "$old" >/dev/null 2>&1 || true
    done
fi

# --- the connector's image -------------------------------------------------------------------
COMMAND=$(sed -n '/^\[tool.poetry.scripts\]/,/^\[/{s/^\([A-Za-z0-9_-]*\) *=.*/\1/p}' pyproject.toml | head -1)
[[ -n $COMMAND ]] || { echo "build_image.sh: no [tool.poetry.scripts] entry in pyproject.toml" >&2; exit 1; }
cat >"$BUILD/context/entrypoint.sh" <<EOF
#!/usr/bin/env bash
set -e
$COMMAND "\$@"
EOF
chmod 755 "$BUILD/context/entrypoint.sh"
cat >"$BUILD/context/Dockerfile" <<EOF
FROM $BASE_IMAGE
COPY --from=$DEPS_IMAGE /usr/local /usr/local
USER root
COPY project /tmp/project
RUN pip install -q --no-index --no-deps /tmp/project/*.whl && rm -rf /tmp/project && $COMMAND spec >/dev/null
COPY entrypoint.sh /entrypoint.sh
ENV AIRBYTE_ENTRYPOINT=/entrypoint.sh
ENTRYPOINT ["/entrypoint.sh"]
LABEL io.airbyte.name=$REPOSITORY io.airbyte.version=$TAG
USER airbyte
EOF
# The image this tag named before: once the tag moves to the new build it would be left
# untagged (dangling), so it is removed then, unless something else still names or uses it.
PREVIOUS=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
docker_engine_say "building $IMAGE"
docker build -q -t "$IMAGE" "$BUILD/context" >&2
CURRENT=$(docker image inspect -f '{{.Id}}' "$IMAGE")
if [[ -n $PREVIOUS && $PREVIOUS != "$CURRENT" && -z $(docker image inspect -f '{{join .RepoTags ""}}' "$PREVIOUS" 2>/dev/null) ]]; then
    docker rmi "$PREVIOUS" >/dev/null 2>&1 || docker_engine_say "the previous $IMAGE ($PREVIOUS) is still in use; left in place"
fi
docker_engine_say "image size: $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
echo "$IMAGE"
