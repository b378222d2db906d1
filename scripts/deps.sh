#!/bin/sh
# Install the Debian packages fruitstream needs, or say exactly how to.
#
#   scripts/deps.sh          build + run + test dependencies
#   scripts/deps.sh bench    the same plus PyTorch, which `make bench` compares against
#   scripts/deps.sh render   the same plus Chromium (large), with which the report test
#                            renders `fruitstream report`'s page; without it that check
#                            is skipped, saying so
#
# Run as root it installs what is missing (apt-get update first, once); run as anyone
# else it prints the apt-get line to run and fails, so `make` stops with a clear message.
set -eu

PACKAGES="gcc make pkg-config libzmq3-dev libczmq-dev libturbojpeg0-dev libopenblas-dev
liblapacke-dev libmsgpack-dev libhiredis-dev redis-server redis-tools procps iproute2 tmux
python3"
if [ "${1:-}" = bench ]; then
    PACKAGES="$PACKAGES python3 python3-torch python3-torchvision python3-numpy"
elif [ "${1:-}" = render ]; then
    PACKAGES="$PACKAGES chromium"
fi

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

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
