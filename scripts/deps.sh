#!/bin/sh
# Install the Debian packages fruitstream needs, or say exactly how to.
#
#   scripts/deps.sh          build + run + test dependencies
#   scripts/deps.sh bench    the same plus what `make bench` compares against: PyTorch, and
#                            ONNX Runtime (Node.js binding) through the anchor's installer
#
# Run as root it installs what is missing (apt-get update first, once); run as anyone
# else it prints the apt-get line to run and fails, so `make` stops with a clear message.
# ONNX Runtime comes from the npm registry by $SHARED/anchors/onnxruntime/install.sh, into
# FS_BENCH_ORT_DIR (default: the installer's own, /tmp/onnxruntime-anchor, kept across
# `make clean`). When that cannot be done this says why and succeeds: the bench then prints
# its ONNX Runtime rows as skipped rather than stopping.
set -eu

PACKAGES="gcc make pkg-config libzmq3-dev libczmq-dev libturbojpeg0-dev libopenblas-dev
liblapacke-dev libmsgpack-dev libhiredis-dev redis-server redis-tools procps iproute2"
bench=false
if [ "${1:-}" = bench ]; then
    bench=true
    PACKAGES="$PACKAGES python3 python3-torch python3-torchvision python3-numpy util-linux"
fi

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# node and npm by command, not by package: a Node.js from elsewhere (whose nodejs package
# carries npm and conflicts with Debian's npm) serves as well.
if $bench && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "fruitstream: missing Debian packages:$missing" >&2
        echo "fruitstream: install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
        exit 1
    fi
    echo "fruitstream: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >&2
fi
$bench || exit 0

anchor="${SHARED:-../shared}/anchors/onnxruntime"
if [ ! -f "$anchor/install.sh" ]; then
    echo "fruitstream: no ONNX Runtime installer at $anchor/install.sh;" \
        "make bench skips the ONNX Runtime rows" >&2
elif ! sh "$anchor/install.sh" ${FS_BENCH_ORT_DIR:+"$FS_BENCH_ORT_DIR"} >/dev/null; then
    echo "fruitstream: $anchor/install.sh failed (above: why);" \
        "make bench skips the ONNX Runtime rows" >&2
fi
exit 0
