#!/bin/sh
# Redis memory per stored image after 100,000 synthetic results (bench/feed_results, straight
# to the sink), without retention and with `--retain 10000`: used_memory over the empty
# pipeline's, divided by the results stored. Each run on a fresh redis-server without
# persistence (memory, not disk, is measured here).
B=${FS_BUILD:-build}
N=${FS_BENCH_MEMORY_RESULTS:-100000}
T=$(mktemp -d /tmp/fs-bench-memory.XXXXXX)
trap 'kill $SINK $REDIS 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
memory() { redis-cli -s "$T/redis.sock" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
for retain in none 10000; do
    rm -f "$T"/*.rdb
    redis-server --port 0 --unixsocket "$T/redis.sock" --dir "$T" --save "" --appendonly no \
        --loglevel warning >"$T/redis.log" 2>&1 &
    REDIS=$!
    until redis-cli -s "$T/redis.sock" ping 2>/dev/null | grep -q PONG; do sleep 0.1; done
    opts=""
    [ "$retain" != none ] && opts="--retain $retain"
    # shellcheck disable=SC2086
    "$B/fruitstream-sink" --redis "unix://$T/redis.sock" --results "ipc://$T/results" \
        --refresh-seconds 2 $opts 2>"$T/sink.log" &
    SINK=$!
    sleep 1
    base=$(memory)
    start=$(date +%s.%N)
    "$B/bench/feed_results" --pending "unix://$T/redis.sock" "$N" &&
        "$B/bench/feed_results" "ipc://$T/results" "$N" 2>/dev/null
    until [ "$(redis-cli -s "$T/redis.sock" hget fs:counters stored)" = "$N" ]; do sleep 0.2; done
    if [ "$retain" != none ]; then # trimming follows the checkpoints, every 2 s here
        until [ "$(redis-cli -s "$T/redis.sock" xlen fs:stored)" -le "$retain" ]; do sleep 0.2; done
    fi
    sleep 1
    used=$(memory)
    images=$(redis-cli -s "$T/redis.sock" xlen fs:stored)
    echo "retain $retain: $N stored in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s, $images kept," \
        "used_memory $((used / 1048576)) MB over $((base / 1048576)) MB empty:" \
        "$(( (used - base) / N )) bytes per stored image," \
        "$(( (used - base) / images )) per kept image"
    kill $SINK; wait $SINK
    kill $REDIS; wait $REDIS
done
