# scaling.sh -- workers join and leave a live stream: one worker at first, a second and a
# third join mid-stream, then two are stopped with SIGTERM (each finishes its current image,
# logs it and exits 0). All three take part, and every key is stored exactly once.
. tests/integration/lib.sh
. tests/integration/stream.lib

make_list "$T/list" 90 Banana Kiwi Limes Cocos Lemon Pear Peach
start_redis || { fail scaling_redis "redis-server did not start"; exit 1; }
start_sink
start_ventilator --lease-ms $LEASE
start_worker w1 --size $S; W1=$LAST_PID
feed uploader "$T/list" 30 0.15
stored_at_least 60 || { fail scaling_progress "stored stuck at $(counter stored)"; exit 1; }
start_worker w2 --size $S; W2=$LAST_PID
stored_at_least 160 || { fail scaling_progress "stored stuck at $(counter stored)"; exit 1; }
start_worker w3 --size $S; W3=$LAST_PID
stored_at_least 300 || { fail scaling_progress "stored stuck at $(counter stored)"; exit 1; }
kill -TERM $W1 $W2
wait $W1; rc1=$?
wait $W2; rc2=$?
if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && grep -q "worker w1 stopping: [1-9][0-9]* done" "$T/worker-w1.log" &&
    grep -q "worker w2 stopping: [1-9][0-9]* done" "$T/worker-w2.log"; then
    pass scaling_sigterm_worker_exits_0
else
    fail scaling_sigterm_worker_exits_0 "exit $rc1/$rc2: $(tail -n 1 "$T/worker-w1.log") / $(tail -n 1 "$T/worker-w2.log")"
fi
if wait_for 8 "[ \$(redis-cli -s $T/redis.sock exists fs:worker:w1 fs:worker:w2) -eq 0 ]" &&
    [ "$(rcli exists fs:worker:w3)" -eq 1 ]; then
    pass scaling_stopped_workers_heartbeats_expire
else
    fail scaling_stopped_workers_heartbeats_expire "$(rcli keys 'fs:worker:*' | paste -sd' ')"
fi
wait_done scaling_completes "$T/list" 60 || exit 1
check_once scaling_every_key_once "$T/list"
n1=$(results_by w1); n2=$(results_by w2); n3=$(results_by w3)
if [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] && [ "$n3" -gt 0 ] && kill -0 $W3; then
    pass scaling_every_worker_takes_part
else
    fail scaling_every_worker_takes_part "results by w1=$n1 w2=$n2 w3=$n3"
fi
echo "results by w1=$n1 w2=$n2 w3=$n3" >&2
stop_sink_check scaling_pca_n
kill -TERM $W3; wait $W3 && pass scaling_last_worker_sigterm_idle_exits_0 ||
    fail scaling_last_worker_sigterm_idle_exits_0 "exit $?"
