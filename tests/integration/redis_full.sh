# redis_full.sh -- Redis full (maxmemory reached, noeviction). An idle sink whose
# once-a-second sample Redis refuses says so once, not at every turn of its loop. A sink
# with results keeps its batch and tries again every 200 ms on the same connection, says
# so in one line (not one per try, nor a reconnect per try), stores everything once Redis
# has room again, each result once (the calls of its batch stored before Redis filled are
# not sent again: they were counted as duplicates), and leaves no staging hash. Full while the sink publishes its model, it
# tries again every 200 ms too. The feeder's results and the sink's stop are the real ones.
. tests/integration/lib.sh
N=3000
start_redis || { fail redis_full_redis "redis-server did not start"; exit 1; }
start_sink
wait_for 10 "grep -q 'results on' $T/sink.log" || { fail redis_full_sink "no sink: $(tail -n 3 "$T/sink.log")"; exit 1; }
rcli config set maxmemory-policy noeviction >/dev/null
rcli config set maxmemory 1 >/dev/null # below what Redis uses: every write refused
sleep 3
said=$(grep -c "XADD fs:metrics: OOM" "$T/sink.log")
rcli config set maxmemory 0 >/dev/null
if [ "$said" -eq 1 ] && wait_for 5 "grep -q 'fs:metrics samples again' $T/sink.log"; then
    pass redis_full_idle_sink_says_once
else
    fail redis_full_idle_sink_says_once "the refused sample said $said times in 3 s: $(tail -n 2 "$T/sink.log")"
fi

# Room for the uploads and a few hundred stored vectors, not for all of them.
"$B/bench/feed_results" --pending "$REDIS_URL" $N || { fail redis_full_pending "feed_results failed"; exit 1; }
used=$(rcli info memory | tr -d '\r' | sed -n 's/^used_memory://p')
rcli config set maxmemory $((used + 2 * 1024 * 1024)) >/dev/null
bg feeder "$B/bench/feed_results" "ipc://$T/results" $N
wait_for 20 "grep -q 'cannot store' $T/sink.log" ||
    { fail redis_full_said "the sink never said it cannot store: $(tail -n 3 "$T/sink.log")"; exit 1; }
sleep 3 # some 15 more tries
stalled=$(counter stored)
said=$(grep -c 'cannot store' "$T/sink.log")
reconnects=$(grep -c 'reconnected' "$T/sink.log")
if [ "$stalled" -lt $N ] && [ "$said" -eq 1 ] && [ "$reconnects" -eq 0 ] &&
    grep -q "cannot store .*OOM.*trying again every 200 ms" "$T/sink.log"; then
    pass redis_full_said_once
else
    fail redis_full_said_once "stored $stalled of $N, 'cannot store' said $said times, $reconnects reconnects: $(grep 'cannot store' "$T/sink.log" | head -n 2)"
fi

rcli config set maxmemory 0 >/dev/null
if wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = $N ]" &&
    [ "$(rcli xlen fs:uploads)" -eq 0 ] && [ "$(rcli xlen fs:stored)" -eq $N ] &&
    [ "$(rcli --scan --pattern 'fs:staging:*' | wc -l)" -eq 0 ] &&
    [ "$(counter duplicates)" -eq 0 ] &&
    grep -q "stored [0-9]* results after [0-9]* attempts" "$T/sink.log"; then
    pass redis_full_everything_stored_once_room_returns
else
    fail redis_full_everything_stored_once_room_returns "stored $(counter stored) of $N, uploads left $(rcli xlen fs:uploads), fs:stored $(rcli xlen fs:stored), staging $(rcli --scan --pattern 'fs:staging:*' | wc -l), duplicates $(counter duplicates); $(tail -n 2 "$T/sink.log")"
fi
kill -TERM "$SINK_PID"
wait "$SINK_PID"
n=$(rcli hget fs:pca:model n)
[ "$n" = $N ] && pass redis_full_pca_counts_each_once || fail redis_full_pca_counts_each_once "PCA n=$n, expected $N"

# Redis full when the sink publishes its model (refreshed every 3 s here, 100 new vectors
# stored just before): it tries again every 200 ms, not in a tight loop of reconnections
# (25,000 in 6 s, one log line each, before), and goes on once Redis has room.
start_sink --refresh-seconds 3
wait_for 10 "grep -q 'results on' $T/sink.log"
"$B/bench/feed_results" --pending "$REDIS_URL" 100 $N >/dev/null 2>&1
"$B/bench/feed_results" "ipc://$T/results" 100 $N >/dev/null 2>&1
wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = $((N + 100)) ]"
conns() { rcli info stats | tr -d '\r' | sed -n 's/^total_connections_received://p'; }
before=$(conns)
lines=$(wc -l <"$T/sink.log")
rcli config set maxmemory 1 >/dev/null
sleep 5
made=$(($(conns) - before))
said=$(($(wc -l <"$T/sink.log") - lines))
rcli config set maxmemory 0 >/dev/null
if [ "$made" -ge 1 ] && [ "$made" -le 60 ] && [ "$said" -le 100 ] &&
    wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:pca:model n)\" = $((N + 100)) ]"; then
    pass redis_full_publish_retries_paced
else
    fail redis_full_publish_retries_paced "$made connections and $said log lines in 5 s; model n $(rcli hget fs:pca:model n)"
fi
kill -TERM "$SINK_PID"
wait "$SINK_PID"
