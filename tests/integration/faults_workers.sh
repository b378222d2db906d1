# faults_workers.sh -- kill -9 one of two workers mid-stream: its tasks' leases run out, the
# ventilator re-sends them, and every uploaded key is still stored exactly once. Also the
# workers' heartbeat keys (fields, TTL, expiry once a worker is gone) and the live counters.
. tests/integration/lib.sh
. tests/integration/stream.lib

make_list "$T/list" 90 Banana Kiwi Limes Cocos Lemon Pear Peach
start_redis || { fail workers_redis "redis-server did not start"; exit 1; }
start_sink --refresh-seconds 1
start_ventilator --lease-ms $LEASE
start_worker w1 --size $S; W1=$LAST_PID
start_worker w2 --size $S; W2=$LAST_PID
# heartbeats: both workers announced with done/rate fields and a TTL
wait_for 10 "[ \$(redis-cli -s $T/redis.sock exists fs:worker:w1 fs:worker:w2) -eq 2 ]"
hb_ok=1; hb=""
for w in w1 w2; do
    ttl=$(rcli ttl "fs:worker:$w"); done_=$(rcli hget "fs:worker:$w" done)
    rate=$(rcli hget "fs:worker:$w" rate); host=$(rcli hget "fs:worker:$w" host)
    hb="$hb $w:ttl=$ttl,done=$done_,rate=$rate,host=$host"
    [ -n "$done_" ] && [ -n "$rate" ] && [ -n "$host" ] && [ "$ttl" -ge 1 ] && [ "$ttl" -le 5 ] || hb_ok=0
done
[ $hb_ok = 1 ] && pass workers_heartbeat_keys || fail workers_heartbeat_keys "$hb"
# a backlog first (so both workers hold tasks when one dies), then a live stream
head -n 450 "$T/list" | tr '\n' '\0' | xargs -0 "$B/fruitstream" upload 2>/dev/null
tail -n +451 "$T/list" >"$T/rest"
feed uploader "$T/rest" 40 0.3
stored_at_least 50 || { fail workers_progress "nothing stored: $(tail -n 3 "$T"/*.log)"; exit 1; }
# Stopped first, w2 surely holds tasks when it dies: the ventilator goes on dealing it tasks
# of the live feed until its pipe is full. (Killed at once, it could be between bursts of
# the feed with nothing queued once the backlog is done; that happened.)
kill -STOP $W2
sleep 1
kill -9 $W2
wait $W2 2>/dev/null
# once the worker is gone its key expires within a few seconds; w1's stays
if wait_for 8 "[ \$(redis-cli -s $T/redis.sock exists fs:worker:w2) -eq 0 ]" &&
    [ "$(rcli exists fs:worker:w1)" -eq 1 ]; then
    pass workers_heartbeat_expires
else
    fail workers_heartbeat_expires "w2 ttl=$(rcli ttl fs:worker:w2) w1 exists=$(rcli exists fs:worker:w1)"
fi
# a mid-stream look at the counters the ventilator keeps
c_ok=1
for f in backlog in_flight uploaded stored; do
    [ -n "$(rcli hget fs:counters $f)" ] || c_ok=0
done
[ $c_ok = 1 ] && pass workers_live_counters ||
    fail workers_live_counters "$(rcli hgetall fs:counters | paste -sd' ')"

wait_done workers_kill9_completes "$T/list" 60 || exit 1
check_once workers_kill9_every_key_once "$T/list"
retried=$(counter retried)
[ "$retried" -gt 0 ] && grep -q "re-sending" "$T/ventilator.log" &&
    pass workers_kill9_tasks_retried || fail workers_kill9_tasks_retried "retried=$retried"
stop_sink_check workers_kill9_pca_n
done1=$(rcli hget fs:worker:w1 done)
[ "${done1:-0}" -gt 0 ] && pass workers_heartbeat_counts_done ||
    fail workers_heartbeat_counts_done "w1 done=$done1"
