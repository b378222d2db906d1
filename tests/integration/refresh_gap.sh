# refresh_gap.sh -- when the sink refreshes its model. Every --refresh-every N vectors, but
# no sooner than --refresh-min-seconds G after the last refresh: 600 synthetic results fed
# 20 every 0.3 s (N = 50 comes every second) give refreshes at least G = 3 s apart, and still
# more than one while they come. --refresh-seconds T is not held back by G: 10 results, far
# fewer than N, reach the model within T = 1 s (and well before the default G of 10 s).
. tests/integration/lib.sh
start_redis || { fail refresh_redis "redis-server did not start"; exit 1; }

# The seconds between consecutive "PCA model" lines of the sink's log (their time of day,
# to the millisecond), one a line.
model_gaps() {
    sed -n 's/^[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9.]*\) .* PCA model v.*/\1 \2 \3/p' "$T/sink.log" |
        awk '{ t = $1 * 3600 + $2 * 60 + $3; if (NR > 1) printf "%.3f\n", t < last ? t + 86400 - last : t - last; last = t }'
}

start_sink --refresh-every 50 --refresh-min-seconds 3 --refresh-seconds 600
for i in $(seq 0 29); do feed_synthetic 20 $((i * 20)); sleep 0.3; done
wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 600 ]" ||
    { fail refresh_gap_stream "stored $(counter stored)"; exit 1; }
gaps=$(model_gaps | tr '\n' ' ')
kill -TERM $SINK_PID; wait $SINK_PID # the final refresh is not held back either
n=$(rcli hget fs:pca:model n)
if echo "$gaps" | awk '{ for (i = 1; i <= NF; i++) if ($i < 2.5) exit 1 }' &&
    [ "$(echo "$gaps" | wc -w)" -ge 1 ] && [ "$n" = 600 ]; then
    pass refresh_every_n_waits_for_the_gap
else
    fail refresh_every_n_waits_for_the_gap "seconds between refreshes: ${gaps:-none}; final model n $n"
fi

mv "$T/sink.log" "$T/sink-gap.log"
start_sink --refresh-seconds 1
feed_synthetic 10 600
if wait_for 8 "[ \"\$(redis-cli -s $T/redis.sock hget fs:pca:model n)\" = 610 ]"; then
    pass refresh_seconds_not_held_by_the_gap
else
    fail refresh_seconds_not_held_by_the_gap "model n $(rcli hget fs:pca:model n) after 8 s"
fi
