#!/bin/sh
# Install the Debian packages fruitstream needs, or say exactly how to.
#
#   scripts/deps.sh          build + run + test dependencies
#   scripts/deps.sh bench    the same plus what `make bench` compares against: PyTorch, and
#                            ONNX Runtime (Node.js binding) through the anchor's installer
#   scripts/deps.sh arm64    the ARM64 cross compiler, qemu-user and ARM64 libjpeg-turbo,
#                            jansson, OpenBLAS and LAPACKE (Debian multiarch), for the ARM64
#                            part of `make test`
#   scripts/deps.sh build    only what `make` needs to build the programs (docker/Dockerfile)
#   scripts/deps.sh render   Chromium (large), with which the report test renders
#                            `fruitstream report`'s page; without it that check is skipped,
#                            saying so
#
# Run as root it installs what is missing (apt-get update first, once); run as anyone
# else it prints the apt-get line to run and fails, so `make` stops with a clear message.
# Some sets are optional, and when they cannot be installed this says why and succeeds:
# the ARM64 set and Chromium (`make test` then reports the tests needing them as skipped),
# and ONNX Runtime,
# which comes from the npm registry by $SHARED/anchors/onnxruntime/install.sh into
# FS_BENCH_ORT_DIR (default: the installer's own, /tmp/onnxruntime-anchor, kept across
# `make clean`; the bench then prints its ONNX Runtime rows as skipped).
set -eu

mode="${1:-}"
PACKAGES="gcc make pkg-config libzmq3-dev libczmq-dev libturbojpeg0-dev libopenblas-dev
liblapacke-dev libmsgpack-dev libhiredis-dev libmicrohttpd-dev libjansson-dev"
# The tests: real Redis and processes; network namespaces; the deployment files checked
# offline (systemd-analyze verify, docker-compose config, YAML parsing); the sources' format
# and the Lua scripts' syntax (clang-format, luac).
TEST_PACKAGES="redis-server redis-tools procps iproute2 systemd python3 python3-yaml
docker-compose curl tmux clang-format lua5.1"
case "$mode" in
build) ;;
bench)
    PACKAGES="$PACKAGES $TEST_PACKAGES python3-torch python3-torchvision python3-numpy
util-linux"
    ;;
arm64)
    # The :arm64 libraries sit beside the amd64 ones (Multi-Arch: same, same version).
    PACKAGES="gcc-aarch64-linux-gnu libc6-dev-arm64-cross libturbojpeg0-dev:arm64
libjansson-dev:arm64 libopenblas-dev:arm64 liblapacke-dev:arm64"
    command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null ||
        PACKAGES="$PACKAGES qemu-user"
    ;;
render) PACKAGES="chromium" ;;
*) PACKAGES="$PACKAGES $TEST_PACKAGES" ;;
esac

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# node and npm by command, not by package: a Node.js from elsewhere (whose nodejs package
# carries npm and conflicts with Debian's npm) serves as well.
if [ "$mode" = bench ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi

# ARM64 libraries come from Debian's arm64 archive, which dpkg must be told about first.
multiarch=""
if [ -n "$missing" ] && [ "$mode" = arm64 ] &&
    ! dpkg --print-foreign-architectures | grep -qx arm64; then
    multiarch="dpkg --add-architecture arm64"
fi

if [ -n "$missing" ] && [ "$(id -u)" -ne 0 ]; then
    echo "fruitstream: missing Debian packages:$missing" >&2
    echo "fruitstream: install them with:" >&2
    echo "  ${multiarch:+sudo $multiarch && }sudo apt-get update &&" \
        "sudo apt-get install -y$missing" >&2
    case "$mode" in
    arm64 | render)
        echo "fruitstream: until then the tests that need them are skipped" >&2
        exit 0
        ;;
    esac
    exit 1
fi
if [ -n "$missing" ]; then
    echo "fruitstream: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    [ -z "$multiarch" ] || $multiarch
    # shellcheck disable=SC2086
    if ! { apt-get update -q >&2 &&
        apt-get install -y -q --no-install-recommends $missing >&2; }; then
        case "$mode" in arm64 | render) ;; *) exit 1 ;; esac
        # Leave the machine as it was: an arm64 architecture nothing uses slows every
        # apt-get update.
        [ -z "$multiarch" ] || dpkg --remove-architecture arm64 2>/dev/null || true
        echo "fruitstream: could not install$missing: the tests that need it are skipped" >&2
        exit 0
    fi
fi
[ "$mode" = bench ] || exit 0

anchor="${SHARED:-../shared}/anchors/onnxruntime"
if [ ! -f "$anchor/install.sh" ]; then
    echo "fruitstream: no ONNX Runtime installer at $anchor/install.sh;" \
        "make bench skips the ONNX Runtime rows" >&2
elif ! sh "$anchor/install.sh" ${FS_BENCH_ORT_DIR:+"$FS_BENCH_ORT_DIR"} >/dev/null; then
    echo "fruitstream: $anchor/install.sh failed (above: why);" \
        "make bench skips the ONNX Runtime rows" >&2
fi
exit 0
