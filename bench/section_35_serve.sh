#!/bin/sh
# Bench section: `fruitstream serve`'s HTTP API (issue 16), kept short. One serve process
# (2 workers, S=100) on a Redis started as `fruitstream run` starts it (append-only file,
# fsync every second); uploads from bench/http_feed, one request at a time on one
# keep-alive connection, as an app's back-end would send them.
#
#  1. sustained rate: FS_BENCH_SERVE_N uploads (default 1000) as fast as the API takes
#     them, images/s between the first and the last store;
#  2. latency: HTTP uploads at half that rate for FS_BENCH_SERVE_SECONDS (10), upload to
#     stored (fs:image:* stored_ms - uploaded_ms): p50, p99, max;
#  3. the ingestion ceiling, workers stopped (SIGSTOP): POST /v1/images requests/s, next
#     to `fruitstream upload` of as many files in one command (pipelined).
set -u
B=${FS_BUILD:-build}
SHARED=${SHARED:-../shared}
WEIGHTS=$SHARED/models/mobilenet_v2/model.safetensors
DATA=$SHARED/data/fruits-360/Test
N=${FS_BENCH_SERVE_N:-1000}
SECS=${FS_BENCH_SERVE_SECONDS:-10}
T=$(mktemp -d /tmp/fs-bench.XXXXXX)
SERVE=""
REDIS=""
cleanup() {
    [ -n "$SERVE" ] && { kill -CONT $(pgrep -f "fruitstream-worker .*fruitstream-$SERVE\\.") 2>/dev/null
        kill -TERM "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null; }
    [ -n "$REDIS" ] && kill -9 "$REDIS" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
SOCK=$T/redis.sock
rcli() { redis-cli -s "$SOCK" "$@"; }
until_true() { # SECONDS CMD
    i=0
    while [ $i -lt $(($1 * 10)) ]; do
        sh -c "$2" >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
stored_at_least() {
    until_true "$2" "[ \$(redis-cli -s $SOCK hget fs:counters stored) -ge $1 ]" ||
        { echo "only $(rcli hget fs:counters stored) of $1 stored in $2 s" >&2; exit 1; }
}
# key_times PREFIX: `uploaded_ms stored_ms` of every stored image whose key starts with PREFIX
key_times() {
    rcli eval "local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local k = e[2][2]
  if string.sub(k, 1, #ARGV[1]) == ARGV[1] then
    local v = redis.call('HMGET', 'fs:image:' .. k, 'uploaded_ms', 'stored_ms')
    out[#out + 1] = v[1] .. ' ' .. v[2]
  end
end
return out" 1 fs:stored "$1"
}

find "$DATA" -name '*.jpg' | sort | awk 'NR % 11 == 0' | head -n 2000 >"$T/images"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
mkdir -p "$T/data"
redis-server --port 0 --unixsocket "$SOCK" --dir "$T/data" --save "" --appendonly yes \
    --appendfsync everysec --loglevel warning --logfile "$T/redis.log" &
REDIS=$!
until_true 10 "redis-cli -s $SOCK ping" || { echo "redis-server did not start" >&2; exit 1; }
"$B/fruitstream" serve --redis "unix://$SOCK" --size 100 --workers 2 --weights "$WEIGHTS" \
    --http 127.0.0.1:0 --http-token-file "$T/token" 2>"$T/serve.log" &
SERVE=$!
until_true 30 "grep -q 'worker local' $T/serve.log && grep -q 'HTTP API on' $T/serve.log" ||
    { echo "serve did not start: $(tail -n 3 "$T/serve.log")" >&2; exit 1; }
PORT=$(grep -o 'HTTP API on 127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
feed() { "$B/bench/http_feed" --port "$PORT" --token-file "$T/token" "$@" "$T/images"; }

feed --count "$N" --prefix rate- >"$T/feed" || { echo "feed failed: $(cat "$T/feed")" >&2; exit 1; }
stored_at_least "$N" 300
rate=$(key_times rate- | awk 'NR == 1 || $2 < lo { lo = $2 } $2 > hi { hi = $2 }
    END { printf "%.1f", (NR - 1) * 1000 / (hi - lo) }')
echo "sustained, $N HTTP uploads, 2 workers S=100: $rate images/s stored"

half=$(echo "$rate" | awk '{ printf "%.0f", $1 / 2 }')
done_before=$(rcli hget fs:counters stored)
feed --rate "$half" --seconds "$SECS" --prefix lat- >"$T/feed" || exit 1
sent=$(awk '{ print $2 }' "$T/feed")
stored_at_least $((done_before + sent)) 120
key_times lat- | awk '{ print $2 - $1 }' | sort -n >"$T/latency"
awk -v rate="$half" -v secs="$SECS" -v lag="$(awk '{ print $8 }' "$T/feed")" '{ v[NR] = $1 }
    END { printf "latency, HTTP upload to stored, %s uploads/s for %s s: %d images, p50 %d ms, p99 %d ms, max %d ms (feeder lag %s ms)\n",
          rate, secs, NR, v[int(NR * 0.50 + 0.999999)], v[int(NR * 0.99 + 0.999999)], v[NR], lag }' "$T/latency"

kill -STOP $(pgrep -f "fruitstream-worker .*fruitstream-$SERVE\\.")
feed --count 2000 --prefix ingest- >"$T/feed" || exit 1
start=$(date +%s.%N)
tr '\n' '\0' <"$T/images" | xargs -0 "$B/fruitstream" upload --redis "unix://$SOCK" 2>/dev/null
took=$(echo "$start $(date +%s.%N)" | awk '{ print $2 - $1 }')
awk -v took="$took" -v n="$(wc -l <"$T/images")" '{
    printf "ingestion, workers stopped: POST /v1/images %.0f requests/s (one connection); fruitstream upload %.0f images/s (%d files, one command)\n",
    $6, n / took, n }' "$T/feed"
