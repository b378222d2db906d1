#!/bin/sh
# `make bench`: every benchmark section, each printing its own figures and ratios.
#
#   bench/run.sh BUILD
#
# Sections are the scripts bench/section_*.sh, run in name order with BUILD and SHARED in
# the environment. Speed is compared as ratios measured in the same run (ours vs ONNX
# Runtime and PyTorch, vs the sgemm peak), since absolute times differ from machine to
# machine.
export FS_BUILD="${1:-build}"
export SHARED="${SHARED:-../shared}"
status=0
for section in bench/section_*.sh; do
    [ -f "$section" ] || continue
    echo "== $(basename "$section" .sh | sed 's/^section_[0-9]*_*//')"
    sh "$section" || { echo "bench section $section failed" >&2; status=1; }
done
exit $status
