#!/usr/bin/env bash
# Builds the connector's Docker image on a machine with no container registry: the base is
# made from Debian packages (debootstrap of bookworm, then `docker import`) with the layout of
# Airbyte's python-connector-base (user airbyte uid 1000, /airbyte/integration_code, Python
# in /usr/local/bin), and the connector is installed from a wheelhouse built here on the
# host, so nothing inside the build needs the network.
#
#   bash scripts/build_image.sh      # prints the image's name:tag as its last line
#
# Installs Debian's docker.io and debootstrap when missing, and starts dockerd when none
# runs (stopping it again on exit). Root is needed for both and for debootstrap.
# Environment: IMAGE_TAG (default: dockerImageTag from metadata.yaml), DEBIAN_MIRROR (default:
# the bookworm mirror the host's apt uses). The base image is cached under a tag made from a
# hash of its inputs; a second build reuses it and rebuilds only the connector layers.
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
BASE_DOCKERFILE=$(cat <<'EOF'
ARG ROOTFS
FROM ${ROOTFS}
# Airbyte's python-connector-base layout: Python and pip on /usr/local/bin (here a venv
# made at /usr/local from Debian's python3.11), a non-root user airbyte (uid 1000) owning
# /airbyte, and /airbyte/integration_code as the working directory.
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /usr/local \
 && /usr/local/bin/python --version \
 && groupadd --gid 1000 airbyte \
 && useradd --uid 1000 --gid 1000 --home-dir /airbyte --no-create-home --shell /bin/bash airbyte \
 && mkdir -p /airbyte/integration_code \
 && chown -R airbyte:airbyte /airbyte \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/*
WORKDIR /airbyte/integration_code
USER airbyte
EOF
)
BASE_KEY=$(printf '%s\n' bookworm minbase "$PACKAGES" "$MIRROR" "$(dpkg-query -W -f '${Version}' debootstrap)" "$BASE_DOCKERFILE" | sha256sum | cut -c1-12)
BASE_IMAGE=moor7-python-connector-base:bookworm-$BASE_KEY
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    docker_engine_say "reusing the base image $BASE_IMAGE"
else
    [[ $(id -u) == 0 ]] || { echo "build_image.sh: debootstrap needs root to build the base image." >&2; exit 1; }
    ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/moor7-rootfs.XXXXXX")
    docker_engine_say "debootstrap bookworm (minbase + $PACKAGES) from $MIRROR"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" >"$ROOT/build/debootstrap.log" 2>&1 \
        || { tail -20 "$ROOT/build/debootstrap.log" >&2; echo "build_image.sh: debootstrap failed; see build/debootstrap.log" >&2; exit 1; }
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    docker_engine_say "docker import"
    tar -C "$ROOTFS" --numeric-owner -c . | docker import - "moor7-debian-rootfs:bookworm-$BASE_KEY" >/dev/null
    rm -rf "$ROOTFS"
    mkdir -p "$BUILD/base"
    printf '%s\n' "$BASE_DOCKERFILE" >"$BUILD/base/Dockerfile"
    docker build -q --build-arg "ROOTFS=moor7-debian-rootfs:bookworm-$BASE_KEY" -t "$BASE_IMAGE" "$BUILD/base" >&2
    docker rmi "moor7-debian-rootfs:bookworm-$BASE_KEY" >/dev/null
fi

# --- the wheelhouse ------------------------------------------------------------------------
# Built with the host's Python 3.11 on Linux, the same interpreter version and platform as the
# image's; dependencies come from the package index (or pip's cache), the project from here.
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
# The dependencies' wheels are kept per pyproject.toml: a rebuild with the same dependencies
# reuses them (and the image layer made from them) instead of resolving them again.
DEPS_KEY=$( { cat pyproject.toml; "$PY" -c 'import sys, sysconfig; print(sys.version, sysconfig.get_platform())'; } | sha256sum | cut -c1-12)
WHEELHOUSE=$BUILD/wheelhouse-$DEPS_KEY
if [[ -f $WHEELHOUSE/.complete ]]; then
    docker_engine_say "reusing the dependencies' wheels in ${WHEELHOUSE#"$ROOT"/}"
else
    docker_engine_say "building the dependencies' wheels"
    rm -rf "$BUILD"/wheelhouse-*
    "$PY" -m pip wheel -q -w "$WHEELHOUSE" "${wheels[0]}" 2>>"$ROOT/build/wheel.log" >&2 \
        || { cat "$ROOT/build/wheel.log" >&2; exit 1; }
    rm -f "$WHEELHOUSE"/*moor7_im-*.whl
    touch "$WHEELHOUSE/.complete"
fi
cp -al "$WHEELHOUSE" "$BUILD/context/wheelhouse"
rm -f "$BUILD/context/wheelhouse/.complete"

COMMAND=$(sed -n '/^\[project.scripts\]/,/^\[/{s/^\([A-Za-z0-9_-]*\) *=.*/\1/p}' pyproject.toml | head -1)
[[ -n $COMMAND ]] || { echo "build_image.sh: no [project.scripts] entry in pyproject.toml" >&2; exit 1; }
cat >"$BUILD/context/entrypoint.sh" <<EOF
#!/usr/bin/env bash
set -e
$COMMAND "\$@"
EOF
chmod 755 "$BUILD/context/entrypoint.sh"
cat >"$BUILD/context/Dockerfile" <<EOF
# The dependencies are installed in a stage of their own and copied over, so the wheelhouse
# is not a layer of the image and the layer survives a change to the connector alone.
FROM $BASE_IMAGE AS dependencies
USER root
COPY wheelhouse /tmp/wheelhouse
RUN pip install -q --no-index --find-links /tmp/wheelhouse /tmp/wheelhouse/*.whl

FROM $BASE_IMAGE
COPY --from=dependencies /usr/local /usr/local
USER root
COPY project /tmp/project
RUN pip install -q --no-index --no-deps /tmp/project/*.whl && rm -rf /tmp/project && $COMMAND spec >/dev/null
COPY entrypoint.sh /entrypoint.sh
ENV AIRBYTE_ENTRYPOINT=/entrypoint.sh
ENTRYPOINT ["/entrypoint.sh"]
LABEL io.airbyte.name=$REPOSITORY io.airbyte.version=$TAG
USER airbyte
EOF
docker_engine_say "building $IMAGE"
docker build -q -t "$IMAGE" "$BUILD/context" >&2
docker_engine_say "image size: $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
echo "$IMAGE"
