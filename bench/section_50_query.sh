#!/bin/sh
# `fruitstream query`'s search: latency over 22,688 (the Test split) and 1,000,000 synthetic
# stored projections of k = 212 (k at 95% variance on the Test split), one query and in
# blocks of 64; then, when a `fruitstream run` data directory holds a stored Test split
# (FS_BENCH_QUERY_DATA, default fruitstream-data), the leave-one-out accuracy of the
# 5-nearest vote over it, each image against all the others.
B=${FS_BUILD:-build}
for rows in ${FS_BENCH_QUERY_ROWS:-22688 1000000}; do
    "$B/bench/bench_query" synthetic "$rows" || exit 1
done
DIR=${FS_BENCH_QUERY_DATA:-fruitstream-data}
if [ ! -d "$DIR" ]; then
    echo "skip leave-one-out: no data directory $DIR (make run first)"
    exit 0
fi
T=$(mktemp -d /tmp/fs-bench-query.XXXXXX)
REDIS=""
trap '[ -n "$REDIS" ] && kill $REDIS 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
# One Redis per data directory, as fruitstream keeps it (cli/private_redis.c): a second
# server over the same append-only file could truncate it under the first. So use the Redis
# of a `fruitstream serve` or `run` holding DIR/fruitstream.lock, else start one that holds
# the lock (inheriting it) and writes its URL there, as `fruitstream` would.
LOCK="$DIR/fruitstream.lock"
if [ -e "$LOCK" ] && { [ -L "$LOCK" ] || [ ! -f "$LOCK" ]; }; then
    echo "$LOCK is not a regular file: refusing to use $DIR" >&2
    exit 1
fi
exec 9>>"$LOCK"
if flock -n 9; then
    URL="unix://$T/redis.sock"
    printf '%s\n' "$URL" >"$LOCK"
    redis-server --port 0 --unixsocket "$T/redis.sock" --dir "$(cd "$DIR" && pwd)" \
        --appendonly yes --save "" --loglevel warning >"$T/redis.log" 2>&1 &
    REDIS=$!
else
    URL=$(head -n 1 "$LOCK")
    echo "leave-one-out on the Redis already serving $DIR: $URL"
fi
exec 9>&-
i=0
until redis-cli -s "${URL#unix://}" ping 2>/dev/null | grep -q PONG; do
    i=$((i + 1)); [ $i -gt 600 ] && { echo "redis over $DIR did not start" >&2; exit 1; }
    sleep 0.1
done
"$B/bench/bench_query" loo "$URL" 5
