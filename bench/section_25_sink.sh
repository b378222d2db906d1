#!/bin/sh
# Bench section: how many vectors per second the whole sink absorbs -- decode, projection,
# the store script with pipelined Redis writes, PCA update and refreshes amortised -- fed by
# bench/feed_results.c, with Redis as `fruitstream run` starts it (append-only file, fsync
# everysec, AOF rewritten only past 1 GB, no RDB compression; FS_BENCH_FSYNC=always to
# compare). Target: >= 20,000 vectors/s. Note that feeder, sink and Redis share this
# machine's cores, so the figure is a lower bound for a sink on its own machine.
set -u
B=${FS_BUILD:-build}
N=${FS_BENCH_SINK_VECTORS:-60000}
T=$(mktemp -d /tmp/fs-bench.XXXXXX)
trap 'kill $SINK $REDIS 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
redis-server --port 0 --unixsocket "$T/redis.sock" --dir "$T" --save "" --appendonly yes \
    --appendfsync ${FS_BENCH_FSYNC:-everysec} --auto-aof-rewrite-min-size 1gb --rdbcompression no \
    --loglevel warning --logfile "$T/redis.log" &
REDIS=$!
until redis-cli -s "$T/redis.sock" ping >/dev/null 2>&1; do sleep 0.1; done
"$B/fruitstream-sink" --redis "unix://$T/redis.sock" --results "ipc://$T/results" ${FS_BENCH_SINK_OPTS:-} \
    2>"$T/sink.log" &
SINK=$!
sleep 0.5
start=$(date +%s.%N)
"$B/bench/feed_results" "ipc://$T/results" "$N" 2>/dev/null &
until [ "$(redis-cli -s "$T/redis.sock" hget fs:counters stored)" = "$N" ]; do sleep 0.05; done
end=$(date +%s.%N)
kill -TERM $SINK
wait $SINK
refreshes=$(grep -c "PCA model" "$T/sink.log")
awk -v n="$N" -v s="$start" -v e="$end" -v r="$refreshes" 'BEGIN {
    rate = n / (e - s)
    printf "sink: %d vectors stored in %.2f s = %.0f vectors/s (target >= 20000: %s), %d PCA refreshes\n",
        n, e - s, rate, (rate >= 20000 ? "met" : "MISSED"), r }'
grep "PCA model" "$T/sink.log" | tail -n 1 | sed 's/^.*info /  final model: /'
