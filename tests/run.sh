#!/bin/sh
# Runs every test and prints `N passed, N failed, N skipped` as its last line.
#
#   tests/run.sh BUILD [ASAN_BUILD [ARM64_BUILD [GENERIC_BUILD]]]
#
# Unit test binaries in BUILD/tests run as they are and, when ASAN_BUILD is given, once more
# from ASAN_BUILD/tests under AddressSanitizer + UBSan. When ARM64_BUILD is given (`make
# arm64`), its test_kernels, test_peak, test_syrk, test_cpu_cache, test_pca (with ARM64
# OpenBLAS: about 4 minutes) and test_reference (the first 20 images at S = 100: emulation
# is about a hundred times slower) run under qemu-user, labelled arm64:; without the cross
# build (ARM64_BUILD/skip says why) or qemu they are one skip. When GENERIC_BUILD is given
# (`make avx512-generic`), its test_kernels, test_syrk and test_reference run the AVX-512
# path's kernels written in generic 16-float vectors on AVX2 (common/simd.h), labelled
# avx512-generic: and named *_avx512-generic: a check of that path's tile shapes and edges
# on any x86-64 CPU, not a run of its AVX-512 instructions, whose tests stay skipped
# without AVX-512. That build exists on x86-64 only: elsewhere it is one skip. Integration
# tests are the scripts in tests/integration, run against the programs in BUILD, then, when
# ASAN_BUILD is given, once more against ASAN_BUILD's programs, labelled asan: (FS_SANITIZED=1
# tells a script; those whose header says `# Not run under the sanitizers` run no program
# of ours at run time and are not repeated). The programs' sanitizer reports are collected
# in files (ASan's log_path; lib.sh keeps UBSan's, which go to the logs the scripts delete):
# a script that leaves one is a failure, whatever its checks said, with the report's head
# shown. Each test
# prints `ok NAME` or `FAIL NAME: ...`, or `skip NAME: why` when this machine cannot run it
# (a CPU without AVX-512, a missing tool): skips are listed and counted, never passed. A
# binary or script that exits non-zero without printing a FAIL line is counted as one
# failure of its own, so a crash is never silent. The FAIL lines are printed again just
# above the summary, so the tail of a long log (all CI may show) names what failed.
BUILD=${1:-build}
ASAN=${2:-}
ARM64=${3:-}
GENERIC=${4:-}
export SHARED="${SHARED:-../shared}"
export FS_BUILD="$BUILD"
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
passed=0
failed=0
skipped=0
# UBSan's options in both sanitized passes. Built into ASan's runtime (our gcc asan build),
# UBSan writes its reports to standard error whatever log_path says: the unit tests' stderr
# is shown on failure, and lib.sh keeps the integration scripts' (see above).
UBSAN_REPORTS=print_stacktrace=1:halt_on_error=1

run_one() { # label command...
    label=$1; shift
    out="$LOG/out"
    "$@" >"$out" 2>"$LOG/err"
    rc=$?
    sed "s|^|[$label] |" "$out" | grep -E '^\[[^]]*\] (ok|FAIL|skip) ' | tee -a "$LOG/lines"
    p=$(grep -c '^ok ' "$out")
    f=$(grep -c '^FAIL ' "$out")
    s=$(grep -c '^skip ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "[$label] FAIL $label: exited with status $rc" | tee -a "$LOG/lines"
        echo "    stderr tail:"
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
    export UBSAN_OPTIONS="$UBSAN_REPORTS"
    for t in "$ASAN"/tests/test_*; do
        [ -x "$t" ] && run_one "asan:$(basename "$t")" "$t"
    done
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi
if [ -n "$ARM64" ]; then
    qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
    if [ -f "$ARM64/skip" ]; then
        why=$(cat "$ARM64/skip")
    elif [ -z "$qemu" ]; then
        why="qemu-aarch64 not installed (qemu-user; scripts/deps.sh arm64)"
    else
        why=""
        # The C library of Debian's cross toolchain, for the emulated dynamic loader.
        export QEMU_LD_PREFIX="${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}"
        run_one arm64:test_kernels "$qemu" "$ARM64/tests/test_kernels"
        run_one arm64:test_peak "$qemu" "$ARM64/tests/test_peak"
        run_one arm64:test_syrk "$qemu" "$ARM64/tests/test_syrk"
        run_one arm64:test_cpu_cache "$qemu" "$ARM64/tests/test_cpu_cache"
        # OpenBLAS's threads wait for work spinning: emulated beside the test, they took
        # minutes over what one thread does in a second.
        run_one arm64:test_pca env OPENBLAS_NUM_THREADS=1 "$qemu" "$ARM64/tests/test_pca"
        run_one arm64:test_reference "$qemu" "$ARM64/tests/test_reference" --first 20
        unset QEMU_LD_PREFIX
    fi
    if [ -n "$why" ]; then
        echo "[arm64] skip arm64: $why"
        skipped=$((skipped + 1))
    fi
fi
if [ -n "$GENERIC" ] && [ -x "$GENERIC/tests/test_kernels" ]; then
    for t in test_kernels test_syrk test_reference; do
        run_one "avx512-generic:$t" "$GENERIC/tests/$t"
    done
elif [ -n "$GENERIC" ]; then
    echo "[avx512-generic] skip avx512-generic: no $GENERIC/tests (built on x86-64 only)"
    skipped=$((skipped + 1))
fi
for t in tests/integration/*.sh; do
    [ -f "$t" ] && run_one "$(basename "$t" .sh)" sh "$t"
done
if [ -n "$ASAN" ]; then
    mkdir "$LOG/san"
    export FS_BUILD="$ASAN" FS_SANITIZED=1 FS_SANITIZER_LOG="$LOG/san"
    export ASAN_OPTIONS="detect_leaks=1:log_path=$LOG/san/report"
    export UBSAN_OPTIONS="$UBSAN_REPORTS"
    export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
    for t in tests/integration/*.sh; do
        grep -q '^# Not run under the sanitizers' "$t" && continue
        name=$(basename "$t" .sh)
        run_one "asan:$name" sh "$t"
        for r in "$LOG"/san/report.*; do
            [ -f "$r" ] || continue
            echo "[asan:$name] FAIL asan:$name: sanitizer report $(grep -m 1 -E 'ERROR|runtime error' "$r")" |
                tee -a "$LOG/lines"
            head -n 30 "$r" | sed 's/^/    /'
            failed=$((failed + 1))
            rm -f "$r"
        done
    done
    export FS_BUILD="$BUILD"
    unset FS_SANITIZED FS_SANITIZER_LOG ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi
if [ "$failed" -ne 0 ]; then
    echo "failed:"
    grep -E '^\[[^]]*\] FAIL ' "$LOG/lines"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
