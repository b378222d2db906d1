#!/bin/sh
# Bench section: the live stream end to end -- real redis-server, sink, ventilator and
# workers on this machine, uploads as an app would make them (bench/feed_uploads.c: SET the
# blob, XADD the entry; the entry ID's time is the upload time).
#
#  1. sustained images/s with 1 and 2 workers, S=100 and S=224: a backlog of N uploads,
#     rate = stored images / (last stored_ms - first stored_ms); each with CURVE off and on
#     (--keys on sink, ventilator and workers: the cost of authentication and encryption)
#  2. latency: uploads at a steady rate (half the 2-worker rate at S=100) for 30 s or more;
#     upload-to-stored latency (fs:image:* stored_ms - uploaded_ms) of every image:
#     p50, p99, max, with CURVE off and on. Target at S=100: p99 < 100 ms.
#  3. backpressure: 100,000 uploads waiting (path entries), the pipeline started on them;
#     every process's RSS sampled each second while it works through the backlog for a
#     while, next to backlog / in flight / stored.
#
# Redis runs as `fruitstream run` starts it (bench/redis.lib; FS_BENCH_FSYNC=always to
# compare). All processes share this machine's cores and talk over
# ipc://, with CURVE or without: the CURVE figures are the cost of the encryption itself.
# Knobs: FS_BENCH_STREAM_N (3000), FS_BENCH_STREAM_SECONDS (30), FS_BENCH_BACKLOG (100000),
# FS_BENCH_BACKLOG_SECONDS (15), FS_BENCH_SIZES ("100 224").
. bench/stream.lib
. bench/redis.lib
N=${FS_BENCH_STREAM_N:-3000}
SECONDS_STEADY=${FS_BENCH_STREAM_SECONDS:-30}
BACKLOG=${FS_BENCH_BACKLOG:-100000}
SECONDS_BACKLOG=${FS_BENCH_BACKLOG_SECONDS:-15}
SIZES=${FS_BENCH_SIZES:-100 224}
T=$(mktemp -d /tmp/fs-bench.XXXXXX)
PIDS=""
REDIS=""
cleanup() {
    for p in $PIDS $REDIS; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
"$B/fruitstream" keys "$T/keys" >/dev/null || exit 1
SOCK=$T/data/redis.sock

# every 7th image of the Test split: all classes, a few thousand files
find "$DATA" -name '*.jpg' | sort | awk 'NR % 7 == 0' >"$T/images"
[ -s "$T/images" ] || { echo "no images under $DATA" >&2; exit 1; }

# start_pipeline WORKERS SIZE: a fresh Redis, the sink, the ventilator, WORKERS workers,
# returning once every worker has announced itself (weights loaded). CURVE=on: with keys.
start_pipeline() {
    stop_pipeline
    keys=""
    [ "${CURVE:-off}" = on ] && keys="--keys $T/keys"
    rm -rf "$T/data"; mkdir -p "$T/data"
    redis_start "$T/data" || exit 1
    export REDIS_URL="unix://$SOCK"
    "$B/fruitstream-sink" --results "ipc://$T/results" ${SINK_OPTS:-} $keys 2>"$T/sink.log" &
    SINK=$!
    "$B/fruitstream-ventilator" --tasks "ipc://$T/tasks" --allow-path "$DATA" $keys \
        2>"$T/ventilator.log" &
    VENT=$!
    PIDS="$SINK $VENT"
    WORKER_PIDS=""
    for i in $(seq 1 "$1"); do
        "$B/fruitstream-worker" --tasks "ipc://$T/tasks" --results "ipc://$T/results" \
            --weights "$WEIGHTS" --size "$2" --id "w$i" $keys 2>"$T/worker-$i.log" &
        WORKER_PIDS="$WORKER_PIDS $!"
    done
    PIDS="$PIDS $WORKER_PIDS"
    until_true 30 "[ \$(redis-cli -s $SOCK --scan --pattern 'fs:worker:*' | wc -l) -ge $1 ]" ||
        { echo "workers did not start: $(tail -n 2 "$T"/worker-*.log)" >&2; exit 1; }
}

stop_pipeline() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    [ -n "$REDIS" ] && { kill -TERM "$REDIS" 2>/dev/null; wait "$REDIS" 2>/dev/null; }
    PIDS=""; REDIS=""
}


# 1. sustained rate
echo "sustained rate, backlog of $N uploads (images/s between the first and last store):"
printf '  %-6s %-8s %10s %10s %9s\n' size workers images/s "CURVE on" on/off
for size in $SIZES; do
    for workers in 1 2; do
        for curve in off on; do
            CURVE=$curve start_pipeline $workers "$size"
            "$B/bench/feed_uploads" --count "$N" --prefix "r$size-$workers-" "$T/images" \
                >/dev/null || exit 1
            wait_stored "$N" 600 || exit 1
            rate=$(store_times | awk 'NR == 1 || $2 < lo { lo = $2 } $2 > hi { hi = $2 }
                END { printf "%.1f", (NR - 1) * 1000 / (hi - lo) }')
            [ $curve = off ] && off=$rate
        done
        printf '  %-6s %-8s %10s %10s %9.3f\n' "$size" $workers "$off" "$rate" \
            "$(echo "$rate $off" | awk '{ print $1 / $2 }')"
        [ "$size" = 100 ] && [ $workers = 2 ] && RATE2=$off
        [ "$size" = 100 ] && [ $workers = 1 ] && RATE1=$off
    done
done
: "${RATE2:=${RATE1:-100}}"

# 2. latency at half the 2-worker rate: once with the sink's defaults, once with its model
# refresh and checkpoint moved out of the measured window, to show what they cost (the
# refresh, an eigendecomposition of the 1280 x 1280 covariance, holds the sink's loop).
feed_rate=$(echo "$RATE2" | awk '{ printf "%.0f", $1 / 2 }')
echo "latency, upload to stored, S=100, 2 workers, steady feed of $feed_rate uploads/s for $SECONDS_STEADY s:"
printf '  %-40s %7s %7s %7s %7s %8s\n' sink images "p50 ms" "p99 ms" "max ms" "p99<100"
latency_run() { # LABEL
    start_pipeline 2 100
    "$B/bench/feed_uploads" --rate "$feed_rate" --seconds "$SECONDS_STEADY" --prefix lat- \
        "$T/images" >"$T/feed.out" || exit 1
    sent=$(awk '{ print $2 }' "$T/feed.out")
    wait_stored "$sent" 120 || exit 1
    store_times | awk '{ print $2 - $1, $1 }' >"$T/latency.raw"
    [ -n "${FS_BENCH_KEEP:-}" ] && cp "$T/latency.raw" "$FS_BENCH_KEEP.$2"
    sort -n "$T/latency.raw" >"$T/latency"
    awk -v label="$1" '{ v[NR] = $1 }
        END {
            p50 = v[int(NR * 0.50 + 0.999999)]; p99 = v[int(NR * 0.99 + 0.999999)]
            printf "  %-40s %7d %7d %7d %7d %8s\n", label, NR, p50, p99, v[NR], p99 < 100 ? "yes" : "NO"
        }' "$T/latency"
    awk '{ printf "  %40s feeder: %s uploads in %s s (%s/s), worst lag behind schedule %s ms\n", "", $2, $4, $6, $8 }' "$T/feed.out"
    retried=$(counter retried)
    [ "$retried" = 0 ] || echo "  (retried: $retried)"
}
SINK_OPTS="" latency_run "defaults (background refresh, 20k vectors/30 s)" default
SINK_OPTS="--refresh-seconds 3600" latency_run "no refresh in the window" quiet
CURVE=on SINK_OPTS="" latency_run "CURVE on, defaults" curve

# 3. backpressure on a big backlog
CURVE=off start_pipeline 0 100
"$B/bench/feed_uploads" --path-only --count "$BACKLOG" --prefix big- "$T/images" >"$T/feed.out" ||
    exit 1
echo "backpressure: $BACKLOG uploads waiting (added in $(awk '{ print $4 }' "$T/feed.out") s), 2 workers S=100, RSS in MiB each second:"
# the pipeline's roles were started with no worker: start two now
for i in 1 2; do
    "$B/fruitstream-worker" --tasks "ipc://$T/tasks" --results "ipc://$T/results" \
        --weights "$WEIGHTS" --size 100 --id "b$i" 2>"$T/worker-b$i.log" &
    PIDS="$PIDS $!"
    eval "W$i=\$!"
done
rss() { ps -o rss= -p "$1" 2>/dev/null | awk '{ printf "%.1f", $1 / 1024 }'; }
printf '  %4s %8s %9s %7s %10s %6s %7s %7s %7s\n' s backlog in_flight stored ventilator sink worker1 worker2 redis
s=0
while [ $s -le "$SECONDS_BACKLOG" ]; do
    printf '  %4d %8s %9s %7s %10s %6s %7s %7s %7s\n' $s "$(counter backlog)" "$(counter in_flight)" \
        "$(counter stored)" "$(rss $VENT)" "$(rss $SINK)" "$(rss $W1)" "$(rss $W2)" "$(rss $REDIS)" |
        tee -a "$T/rss"
    sleep 1
    s=$((s + 1))
done
awk 'NR > 1 { for (i = 5; i <= 9; i++) { if ($i > max[i]) max[i] = $i; if (NR == 2) first[i] = $i } }
     END { printf "  RSS from 1 s to the end, MiB: ventilator %.1f..%.1f, sink %.1f..%.1f, workers %.1f..%.1f / %.1f..%.1f, redis %.1f..%.1f\n",
           first[5], max[5], first[6], max[6], first[7], max[7], first[8], max[8], first[9], max[9] }' "$T/rss"
echo "  (the ventilator holds at most --max-in-flight 64 entries; the rest stays in Redis)"
stop_pipeline
