#!/bin/sh
# Bench section: how many vectors per second the whole sink absorbs -- decode, projection, the
# store script with pipelined Redis writes, PCA update and refreshes amortised -- fed by
# bench/feed_results.c, with Redis as `fruitstream run` starts it (bench/redis.lib:
# append-only file fsynced every second, hash values of up to 8 KB in listpacks, huge pages;
# FS_BENCH_FSYNC=always to compare). Target: >= 20,000 vectors/s. Note that feeder, sink and
# Redis share this machine's cores, so the figure is a lower bound for a sink on its own
# machine (the feeder itself times the run, from its first send until Redis counts every
# result stored, watching on one connection: no polling processes share the cores). A passing
# slow phase of a shared machine can move one run by a fifth, so the section makes
# FS_BENCH_SINK_RUNS (3) runs, each on a fresh Redis and sink, and judges their median. It
# does so for each vector instruction set this CPU runs (the sink's FRUITSTREAM_ISA, for its
# rank-k update), so that an AVX-512 machine gives the AVX2 figure too; FS_BENCH_SINK_ISAS
# overrides the list. Each run also gives the CPU time the sink (all its threads) and Redis
# spent per vector: on a shared machine the rate moves with the load, and their sum says what
# the two would need on cores of their own; and the feeder's, whose share of these cores a
# sink fed from other machines would not pay. It also counts the sink's and Redis's minor page
# faults per vector, and times one on this machine (bench/page_fault_cost): where a hypervisor
# makes them dear, that says how much of their time is the host's. The AVX2 runs on a CPU with
# AVX-512 also set OPENBLAS_CORETYPE=Haswell, so that the refreshes' LAPACK runs OpenBLAS's
# AVX2 kernels, as on a CPU without AVX-512.
#
# The timed results come after FS_BENCH_SINK_WARMUP (30,000) results that are not timed: the
# figure is the rate of a sink that has been running, as a deployed one has. A sink starting
# cold first grows its heap to its working size (LAPACK's work arrays, ZeroMQ's and hiredis's
# buffers), a cost paid once, which on a host whose page faults are dear is a large share of
# the sink's CPU over its first results; the warm-up's own rate is printed beside the run's,
# so that the cold start stays in view. The timed window, FS_BENCH_SINK_VECTORS (200,000)
# results, is as long as the sink's refresh cycle at these rates: with its defaults
# (--refresh-every 20,000 but --refresh-min-seconds 10) a sink taking 20,000 results a second
# refreshes its model and checkpoints its sums every 10 s, so a window of about 10 s holds one
# refresh (the first falls 10 s after the sink starts, inside it), as any 10 s of a long run
# would; each run says how many it held. The window is also long enough for Redis to pay what
# a long run costs it: its append-only file passes 1 GB (which Redis's own rule, off in
# deploy/redis.conf since session 37, rewrote: the sink now asks for a rewrite only when the
# file holds more waste than data, sink/aof.h), and memory this host has not lent the guest
# lately comes dear (bench/RESULTS.md, "The Zen 5, session 36"; each run says how much Redis
# grew, and page_fault_cost what fresh memory costs here). FS_BENCH_SINK_OPTS=
# "--refresh-min-seconds 0" gives the sink of sessions 34 and 35, which refreshed every 20,000
# results however fast they came.
#
# The feeder sends its results FS_BENCH_SINK_PER_MESSAGE to a ZeroMQ message (by default as
# many as the ventilator's default --tasks-per-message, 4: a worker sends back the results
# of one task message as one message, and under load every task message holds that many).
# FS_BENCH_SINK_PER_MESSAGE=1 gives the sink of a ventilator run with --tasks-per-message 1.
set -u
. bench/redis.lib
B=${FS_BUILD:-build}
N=${FS_BENCH_SINK_VECTORS:-200000}
WARMUP=${FS_BENCH_SINK_WARMUP:-30000}
RUNS=${FS_BENCH_SINK_RUNS:-3}
PER_MESSAGE=${FS_BENCH_SINK_PER_MESSAGE:+--per-message $FS_BENCH_SINK_PER_MESSAGE}
PATHS=$("$B/bench/bench_pca" --paths) # the paths this CPU runs, as the sink decides it
ISAS=${FS_BENCH_SINK_ISAS:-$(echo "$PATHS" | sed 's/ *portable//')}
ISAS=${ISAS:-portable}
T=$(mktemp -d /tmp/fs-bench.XXXXXX)
SINK="" REDIS=""
trap 'kill $SINK $REDIS 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

# What process $1 (all its threads) has used so far: "CPU-microseconds minor-faults", the CPU
# being user + system time, and its children's, ended or still running (Redis forks one to
# rewrite its append-only file, which takes a core's share while it runs, and may run past the
# end of a window). A minor fault is memory touched for the first time, or again after handing
# it back. What one costs is measured below (page_fault_cost): well under a microsecond on bare
# metal, tens of times more under some hypervisors, so the faults per vector say how much of
# the CPU time per vector is the host's.
usage() {
    cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^\([0-9]*\) .*) /\1 /' |
        awk -v pid="$1" -v hz="$(getconf CLK_TCK)" '
            $1 == pid { cpu += $13 + $14 + $15 + $16; faults += $9 + $11 }
            $3 == pid { cpu += $13 + $14; faults += $9 }
            END { printf "%.0f %d\n", cpu * 1e6 / hz, faults }'
}

# per_vector BEFORE AFTER: what a process used between two `usage` readings, per vector of
# the run ("CPU-microseconds minor-faults").
per_vector() {
    awk -v a="$1" -v b="$2" -v n="$N" \
        'BEGIN { split(a, x, " "); split(b, y, " "); print (y[1] - x[1]) / n, (y[2] - x[2]) / n }'
}

# The median of the numbers on standard input, one per line.
median() {
    sort -n | awk '{ v[NR] = $1 }
        END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# What process $1 holds in memory, in KB (its resident set).
resident_kb() {
    awk -v kb="$(($(getconf PAGESIZE) / 1024))" '{ print $2 * kb }' "/proc/$1/statm"
}

# One run: prints "vectors/s seconds refreshes sink-us redis-us feeder-us sink-faults
# redis-faults warm-up-vectors/s redis-growth-KB final-model-line", the us being CPU time,
# the faults minor page faults and the growth Redis's resident memory, per vector over the
# timed part (the feeder counts its own CPU time).
measure() {
    rm -rf "$T/run" && mkdir "$T/run"
    redis_start "$T/run" || exit 1
    env FRUITSTREAM_ISA=$ISA ${BLAS_CORE:+OPENBLAS_CORETYPE=$BLAS_CORE} \
        "$B/fruitstream-sink" --redis "unix://$T/run/redis.sock" \
        --results "ipc://$T/run/results" ${FS_BENCH_SINK_OPTS:-} 2>"$T/run/sink.log" &
    SINK=$!
    "$B/bench/feed_results" --pending "unix://$T/run/redis.sock" $((WARMUP + N))
    warmup=0
    if [ "$WARMUP" -gt 0 ]; then # keys after the timed run's, which start at 0
        warmup=$("$B/bench/feed_results" --wait "unix://$T/run/redis.sock" $PER_MESSAGE \
            "ipc://$T/run/results" "$WARMUP" "$N" 2>/dev/null | cut -d' ' -f1) ||
            { cat "$T/run/sink.log" >&2; exit 1; }
    fi
    sleep 0.5
    models0=$(grep -c "PCA model" "$T/run/sink.log")
    sink0=$(usage $SINK) redis0=$(usage $REDIS) rss0=$(resident_kb $REDIS)
    timed=$("$B/bench/feed_results" --wait "unix://$T/run/redis.sock" $PER_MESSAGE \
        "ipc://$T/run/results" "$N" 2>"$T/run/feeder.log") || { cat "$T/run/sink.log" >&2; exit 1; }
    seconds=${timed% *} feeder=${timed#* } # "seconds feeder-CPU-seconds"
    sink=$(per_vector "$sink0" "$(usage $SINK)") redis=$(per_vector "$redis0" "$(usage $REDIS)")
    grown=$(($(resident_kb $REDIS) - rss0))
    sleep 1 # a refresh started in the window is logged when it ends
    refreshes=$(($(grep -c "PCA model" "$T/run/sink.log") - models0))
    kill -TERM $SINK
    wait $SINK
    kill $REDIS
    wait $REDIS 2>/dev/null
    SINK="" REDIS=""
    awk -v n="$N" -v s="$seconds" -v r="$refreshes" \
        -v w="$WARMUP" -v ws="$warmup" -v f="$feeder" \
        -v m="$(grep "PCA model" "$T/run/sink.log" | tail -n 1 | sed 's/^.*info //')" \
        -v sink="$sink" -v redis="$redis" -v g="$grown" 'BEGIN { split(sink, su, " ")
            split(redis, ru, " ")
            printf "%.0f %.2f %d %.0f %.0f %.1f %.2f %.2f %.0f %.2f %s\n", n / s, s, r, su[1],
                ru[1], f * 1e6 / n, su[2], ru[2], (ws > 0 ? w / ws : 0), g / n, m }'
}

HUGE_US=$("$B/bench/page_fault_cost" --huge) # first, before the 4 KB rounds free memory
FAULT_US=$("$B/bench/page_fault_cost")
echo "this machine: $FAULT_US us per minor page fault; fresh memory in huge pages" \
    "${HUGE_US% *} us per MB on first touch, ${HUGE_US#* } us touched again" \
    "(bench/page_fault_cost)"

for ISA in $ISAS; do
    BLAS_CORE=""
    if [ "$ISA" = avx2 ] && case " $PATHS " in *" avx512 "*) true ;; *) false ;; esac; then
        BLAS_CORE=Haswell
        echo "sink avx2: OPENBLAS_CORETYPE=Haswell (OpenBLAS's AVX2 kernels for the refreshes)"
    fi
    rm -f "$T/runs"
    i=1
    while [ "$i" -le "$RUNS" ]; do
        measure >>"$T/runs"
        i=$((i + 1))
    done
    sed -n "s/^.* sent, \([0-9]*\) to a message.*/sink $ISA: the feeder's results \1 to a message/p" \
        "$T/run/feeder.log"
    awk -v n="$N" -v isa="$ISA" -v w="$WARMUP" '{
        printf "sink %s run %d: %d vectors stored in %s s = %d vectors/s, %d PCA refreshes in it; " \
            "CPU per vector: sink %d us, Redis %d us, feeder %s us; page faults per vector: " \
            "sink %s, Redis %s", isa, NR, n, $2, $1, $3, $4, $5, $6, $7, $8
        if (w > 0) printf " (after %d untimed from a cold start, at %d vectors/s)", w, $9
        printf "\n" }' "$T/runs"
    awk -v isa="$ISA" -v runs="$RUNS" -v m="$(cut -d' ' -f1 "$T/runs" | median)" 'BEGIN {
        printf "sink %s: median of %d runs %.0f vectors/s (target >= 20000: %s)\n", isa, runs,
            m, (m >= 20000 ? "met" : "MISSED") }'
    awk -v m="$(awk '{ print $4 + $5 }' "$T/runs" | median)" \
        -v a="$(awk '{ print $4 + $5 + $6 }' "$T/runs" | median)" 'BEGIN {
        printf "  sink + Redis: median %.0f us of CPU per vector, so at most %.0f vectors/s " \
            "on 2 cores of their own;\n  with the feeder: median %.0f us, so at most %.0f " \
            "vectors/s on these 2 cores, were they never idle\n", m, 2e6 / m, a, 2e6 / a }'
    awk -v f="$FAULT_US" -v s="$(cut -d' ' -f7 "$T/runs" | median)" \
        -v r="$(cut -d' ' -f8 "$T/runs" | median)" 'BEGIN {
        printf "  page faults: median %.2f (sink) and %.2f (Redis) per vector, so %.0f us of the " \
            "CPU per vector at %s us each\n", s, r, (s + r) * f, f }'
    awk -v g="$(cut -d' ' -f10 "$T/runs" | median)" -v h="$HUGE_US" 'BEGIN { split(h, c, " ")
        printf "  Redis grew by a median %.2f KB per vector, so %.0f us of its CPU per vector at " \
            "%d us per MB of fresh memory (%.0f us, were the memory touched before)\n", g,
            g * c[1] / 1024, c[1], g * c[2] / 1024 }'
    tail -n 1 "$T/runs" | cut -d' ' -f11- | sed 's/^/  final model of the last run: /'
done
