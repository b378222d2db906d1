# faults_ventilator.sh -- kill -9 the ventilator mid-stream (twice) and start it again: the
# entries it had read stay pending in the consumer group and are re-sent once their lease
# runs out; the workers reconnect by themselves. Every key is stored exactly once.
. tests/integration/lib.sh
. tests/integration/stream.lib

make_list "$T/list" 90 Banana Kiwi Limes Cocos Lemon Pear Peach
start_redis || { fail ventilator_redis "redis-server did not start"; exit 1; }
start_sink
start_ventilator --lease-ms $LEASE
start_worker w1 --size $S
start_worker w2 --size $S
# a backlog, so that the ventilator holds read-but-unsent entries when it dies
head -n 400 "$T/list" | tr '\n' '\0' | xargs -0 "$B/fruitstream" upload 2>/dev/null
tail -n +401 "$T/list" >"$T/rest"
feed uploader "$T/rest" 40 0.3
n=0
most_pending=0
for at in 50 250; do
    stored_at_least $at || { fail ventilator_progress "stored stuck at $(counter stored)"; exit 1; }
    # strike while the ventilator holds entries (the feeder adds a chunk every 0.3 s)
    wait_for 10 "[ \$(redis-cli -s $T/redis.sock xpending fs:uploads fs:ventilators | head -n 1) -gt 0 ]"
    kill -9 $VENT_PID; wait $VENT_PID 2>/dev/null
    n=$((n + 1))
    pending=$(rcli xpending fs:uploads fs:ventilators | head -n 1)
    [ "$pending" -gt "$most_pending" ] && most_pending=$pending
    sleep 0.3
    bg "ventilator-$n" "$B/fruitstream-ventilator" --tasks "ipc://$T/tasks" --lease-ms $LEASE
    VENT_PID=$LAST_PID
done
wait_done ventilator_kill9_completes "$T/list" 60 || exit 1
check_once ventilator_kill9_every_key_once "$T/list"
retried=$(counter retried)
if [ "$most_pending" -gt 0 ] && [ "$retried" -gt 0 ]; then
    pass ventilator_kill9_pending_entries_resent
else
    fail ventilator_kill9_pending_entries_resent "most pending at a kill=$most_pending retried=$retried"
fi
stop_sink_check ventilator_kill9_pca_n
