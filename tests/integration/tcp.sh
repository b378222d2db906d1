# tcp.sh -- the roles over TCP, as on separate machines: ventilator and sink bound to
# loopback ports, two workers connecting with the default --task-buffer (a fixed kernel
# buffer on each task connection). Every image is stored once, and both workers take part.
. tests/integration/lib.sh

tcp_endpoints
class_dir "$T/in" Kiwi Lemon

start_redis || { fail tcp_redis "redis-server did not start"; exit 1; }
bg sink "$B/fruitstream-sink" --results "$RESULTS"
for id in t1 t2; do
    bg "worker-$id" "$B/fruitstream-worker" --tasks "$TASKS" --results "$RESULTS" \
        --weights "$WEIGHTS" --id "$id" --size 100
done
bg ventilator "$B/fruitstream-ventilator" --tasks "$TASKS" --dir "$T/in" --allow-path "$DATA"
if wait_for 120 "[ \$(redis-cli -s $T/redis.sock hget fs:counters stored) = $N ]" &&
    [ "$(rcli --scan --pattern 'fs:image:*' | wc -l)" -eq "$N" ] &&
    [ "$(counter duplicates)" -eq 0 ] && [ "$(counter failed)" -eq 0 ]; then
    pass tcp_every_key_stored_once
else
    fail tcp_every_key_stored_once "N=$N stored=$(counter stored) failed=$(counter failed) duplicates=$(counter duplicates)"
fi
t1=$(results_by t1)
t2=$(results_by t2)
if [ "$t1" -gt 0 ] && [ "$t2" -gt 0 ]; then
    pass tcp_both_workers_take_part
else
    fail tcp_both_workers_take_part "t1=$t1 t2=$t2"
fi
