# worker_stop.sh -- a worker sent SIGTERM exits within a few seconds even when the sink or
# the ventilator is unreachable, and the tasks it held come back through the lease.
#
# Over TCP on loopback, as between machines. The sink is killed -9 while a worker (two
# threads) has results on their way to it: they wait in the worker's queue. SIGTERM then
# must not wait for a sink that is not there (it did for 10 s before the linger was
# bounded). A second worker is stopped while the ventilator is frozen (SIGSTOP) and the sink
# gone. Then a new sink and worker finish the job: every key stored once, some re-sent.
. tests/integration/lib.sh

tcp_endpoints
class_dir "$T/in" Kiwi Lemon
worker() { # ID [options]
    id=$1; shift
    bg "worker-$id" "$B/fruitstream-worker" --tasks "$TASKS" --results "$RESULTS" \
        --weights "$WEIGHTS" --id "$id" --size 100 "$@"
}

start_redis || { fail stop_redis "redis-server did not start"; exit 1; }
bg sink "$B/fruitstream-sink" --results "$RESULTS"; SINK_PID=$LAST_PID
bg ventilator "$B/fruitstream-ventilator" --tasks "$TASKS" --lease-ms 2000 --dir "$T/in" \
    --allow-path "$DATA"
VENT_PID=$LAST_PID
worker s1 --threads 2; S1=$LAST_PID
if ! wait_for 60 "[ \$(redis-cli -s $T/redis.sock hget fs:counters stored) -ge 20 ]"; then
    fail stop_progress "nothing stored: $(tail -n 3 "$T"/*.log)"
    exit 1
fi
# The sink dies; the worker goes on with the tasks it holds and queues their results.
kill -9 "$SINK_PID"
wait "$SINK_PID" 2>/dev/null
sleep 1
exits_within stop_sink_gone_worker_exits "$S1" 5
echo "worker stopped in $STOP_MS ms with the sink gone" >&2

# The ventilator frozen, the sink still gone: a fresh worker connects, then is stopped.
kill -STOP "$VENT_PID"
worker s2; S2=$LAST_PID
sleep 1.5
exits_within stop_ventilator_frozen_worker_exits "$S2" 5
kill -CONT "$VENT_PID"

# A new sink and worker: the tasks the stopped worker held come back through the lease.
bg sink2 "$B/fruitstream-sink" --results "$RESULTS"
worker s3
if wait_for 90 "[ \$(redis-cli -s $T/redis.sock hget fs:counters stored) -ge $N ] &&
        [ \$(redis-cli -s $T/redis.sock xlen fs:uploads) -eq 0 ]" &&
    [ "$(rcli --scan --pattern 'fs:image:*' | wc -l)" -eq "$N" ] &&
    [ "$(counter stored)" -eq "$N" ] && [ "$(counter failed)" -eq 0 ]; then
    pass stop_every_key_stored_once
else
    fail stop_every_key_stored_once \
        "N=$N stored=$(counter stored) failed=$(counter failed) left=$(rcli xlen fs:uploads)"
fi
retried=$(counter retried)
[ "$retried" -gt 0 ] && [ "$(results_by s3)" -gt 0 ] && pass stop_held_tasks_resent ||
    fail stop_held_tasks_resent "retried=$retried by s3=$(results_by s3)"
