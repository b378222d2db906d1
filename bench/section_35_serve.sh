#!/bin/sh
# Bench section: `fruitstream serve`'s HTTP API (issue 16), kept short. One serve process
# (2 workers, S=100) on a Redis started as `fruitstream run` starts it (append-only file,
# fsync every second, image hashes in listpacks); uploads from bench/http_feed, one request
# at a time on one keep-alive connection, as an app's back-end would send them.
#
#  1. sustained rate: FS_BENCH_SERVE_N uploads (default 1000) as fast as the API takes
#     them, images/s between the first and the last store;
#  2. latency: HTTP uploads at half that rate for FS_BENCH_SERVE_SECONDS (10), upload to
#     stored (fs:image:* stored_ms - uploaded_ms): p50, p99, max;
#  3. the ingestion ceiling, workers stopped (SIGSTOP): POST /v1/images requests/s, next
#     to `fruitstream upload` of as many files in one command (pipelined).
. bench/stream.lib
. bench/redis.lib
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
SOCK=$T/data/redis.sock

find "$DATA" -name '*.jpg' | sort | awk 'NR % 11 == 0' | head -n 2000 >"$T/images"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
mkdir -p "$T/data"
redis_start "$T/data" || exit 1
"$B/fruitstream" serve --redis "unix://$SOCK" --size 100 --workers 2 --weights "$WEIGHTS" \
    --http 127.0.0.1:0 --http-token-file "$T/token" 2>"$T/serve.log" &
SERVE=$!
until_true 30 "grep -q 'worker local' $T/serve.log && grep -q 'HTTP API on' $T/serve.log" ||
    { echo "serve did not start: $(tail -n 3 "$T/serve.log")" >&2; exit 1; }
PORT=$(grep -o 'HTTP API on 127.0.0.1:[0-9]*' "$T/serve.log" | sed 's/.*://')
feed() { "$B/bench/http_feed" --port "$PORT" --token-file "$T/token" "$@" "$T/images"; }

feed --count "$N" --prefix rate- >"$T/feed" || { echo "feed failed: $(cat "$T/feed")" >&2; exit 1; }
wait_stored "$N" 300 || exit 1
rate=$(store_times rate- | awk 'NR == 1 || $2 < lo { lo = $2 } $2 > hi { hi = $2 }
    END { printf "%.1f", (NR - 1) * 1000 / (hi - lo) }')
echo "sustained, $N HTTP uploads, 2 workers S=100: $rate images/s stored"

half=$(echo "$rate" | awk '{ printf "%.0f", $1 / 2 }')
done_before=$(rcli hget fs:counters stored)
feed --rate "$half" --seconds "$SECS" --prefix lat- >"$T/feed" || exit 1
sent=$(awk '{ print $2 }' "$T/feed")
wait_stored $((done_before + sent)) 120 || exit 1
store_times lat- | awk '{ print $2 - $1 }' | sort -n >"$T/latency"
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
