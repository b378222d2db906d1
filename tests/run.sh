#!/bin/sh
# Runs every test and prints `N passed, N failed, N skipped` as its last line.
#
#   tests/run.sh BUILD [ASAN_BUILD]
#
# Unit test binaries in BUILD/tests run as they are and, when ASAN_BUILD is given, once more
# from ASAN_BUILD/tests under AddressSanitizer + UBSan. Integration tests are the scripts in
# tests/integration, run against the programs in BUILD. Each test prints `ok NAME` or
# `FAIL NAME: ...`, or `skip NAME: why` when this machine cannot run it (a CPU without
# AVX-512, a missing tool): skips are listed and counted, never passed. A binary or script
# that exits non-zero without printing a FAIL line is counted as one failure of its own,
# so a crash is never silent.
BUILD=${1:-build}
ASAN=${2:-}
export SHARED="${SHARED:-../shared}"
export FS_BUILD="$BUILD"
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
passed=0
failed=0
skipped=0

run_one() { # label command...
    label=$1; shift
    out="$LOG/out"
    "$@" >"$out" 2>"$LOG/err"
    rc=$?
    sed "s|^|[$label] |" "$out" | grep -E '^\[[^]]*\] (ok|FAIL|skip) '
    p=$(grep -c '^ok ' "$out")
    f=$(grep -c '^FAIL ' "$out")
    s=$(grep -c '^skip ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "[$label] FAIL $label: exited with status $rc; stderr tail:"
        tail -n 20 "$LOG/err" | sed 's/^/    /'
        f=1
    elif [ "$f" -ne 0 ]; then
        tail -n 20 "$LOG/err" | sed 's/^/    /'
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
if [ -n "$ASAN" ]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    for t in "$ASAN"/tests/test_*; do
        [ -x "$t" ] && run_one "asan:$(basename "$t")" "$t"
    done
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi
for t in tests/integration/*.sh; do
    [ -f "$t" ] && run_one "$(basename "$t" .sh)" sh "$t"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
