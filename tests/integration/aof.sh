# aof.sh -- the sink's checkpoints do not grow Redis's append-only file without bound, and
# its data is not rewritten for nothing. With Redis's own auto-rewrite off (as
# deploy/redis.conf has it), a checkpoint (about 15 MB with the model) every 100 of 2,000
# synthetic results would append some 300 MB; with --aof-limit 40 the sink asks for
# rewrites and the file stays under its rewritten size + 40 MB + a checkpoint or two, and
# Redis restarted from the rewritten file holds every result and the model. With
# --aof-limit 1, rewrites wait for the waste to pass the data. With 12,000 results (75 MB of
# data) and three checkpoints, no rewrite at all: the file is mostly data.
. tests/integration/lib.sh
start_redis --auto-aof-rewrite-percentage 0 || { fail aof_redis "redis-server did not start"; exit 1; }
start_sink --aof-limit 40 --refresh-every 100 --refresh-min-seconds 0
aof_mb() { du -sm "$T/appendonlydir" | cut -f1; }
max=0
feed_slowly() { # 100 at a time, so that each hundred gets its checkpoint
    for i in $(seq 0 19); do feed_synthetic 100 $((i * 100)); sleep 0.3; done
}
feed_slowly &
FEEDER=$!
for i in $(seq 1 400); do # the largest size seen while the results go in
    s=$(aof_mb); [ "$s" -gt "$max" ] && max=$s
    [ "$(counter stored)" = 2000 ] && break
    sleep 0.1
done
wait $FEEDER
kill -TERM $SINK_PID; wait $SINK_PID
wait_for 20 "redis-cli -s $T/redis.sock info persistence | grep -q 'aof_rewrite_in_progress:0'"
rewrites=$(grep -c "asking Redis to rewrite" "$T/sink.log")
final=$(aof_mb)
base=$(( $(rcli info persistence | sed -n 's/^aof_base_size:\([0-9]*\).*/\1/p') >> 20 ))
if [ "$(counter stored)" = 2000 ] && [ "$rewrites" -ge 2 ] && [ "$max" -le $((base + 40 + 35)) ]; then
    pass aof_bounded_by_limit
else
    fail aof_bounded_by_limit "stored $(counter stored), $rewrites rewrites asked, largest $max MB, rewritten $base MB, now $final MB"
fi
echo "aof: $rewrites rewrites, largest $max MB, rewritten size $base MB" >&2
kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
start_redis --auto-aof-rewrite-percentage 0
# (wait until Redis has loaded the file: a ping answers while it loads)
if wait_for 20 "[ \"\$(redis-cli -s $T/redis.sock xlen fs:stored)\" = 2000 ]" &&
    [ "$(rcli hget fs:pca:model n)" = 2000 ] &&
    [ "$(rcli hget fs:pca:state seq)" = 2000 ]; then
    pass aof_rewritten_file_holds_everything
else
    fail aof_rewritten_file_holds_everything "stored $(rcli xlen fs:stored), model n $(rcli hget fs:pca:model n), checkpoint seq $(rcli hget fs:pca:state seq)"
fi

# Past a limit smaller than the data, the waste must also pass the data: with --aof-limit 1,
# every checkpoint (15 MB) would pass the limit, but a rewrite is asked for only when the old
# checkpoints outweigh the results and the newest one (about 28 MB), so at most about every
# other checkpoint. A fixed step would rewrite a large data set over and over.
kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
rm -rf "$T/appendonlydir" "$T/sink.log"
start_redis --auto-aof-rewrite-percentage 0 || { fail aof_redis_again "redis-server did not start"; exit 1; }
start_sink --aof-limit 1 --refresh-every 100 --refresh-min-seconds 0
feed_slowly
wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 2000 ]"
kill -TERM $SINK_PID; wait $SINK_PID
rewrites=$(grep -c "asking Redis to rewrite" "$T/sink.log")
checkpoints=$(grep -c "PCA model" "$T/sink.log")
if [ "$(counter stored)" = 2000 ] && [ "$rewrites" -ge 3 ] && [ $((rewrites * 3)) -lt $((checkpoints * 2)) ]; then
    pass aof_rewrites_when_waste_passes_data
else
    fail aof_rewrites_when_waste_passes_data "stored $(counter stored), $rewrites rewrites asked over $checkpoints checkpoints"
fi
echo "aof: --aof-limit 1: $rewrites rewrites over $checkpoints checkpoints" >&2

# Mostly data: 12,000 results (75 MB) and a checkpoint every 4,000 leave 30 MB of old
# checkpoints in the file, less than the data, so even with --aof-limit 1 nothing is
# rewritten (a rule counting growth, as Redis's own does, would have rewritten the file at
# the first checkpoint, and again once it doubled). The file stays within its bound: twice
# the data, plus the limit and a checkpoint.
wait_for 20 "redis-cli -s $T/redis.sock info persistence | grep -q 'aof_rewrite_in_progress:0'"
kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
rm -rf "$T/appendonlydir" "$T/sink.log"
start_redis --auto-aof-rewrite-percentage 0 || { fail aof_redis_third "redis-server did not start"; exit 1; }
start_sink --aof-limit 1 --refresh-every 4000 --refresh-min-seconds 0
for i in 0 1 2; do feed_synthetic 4000 $((i * 4000)); done
wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 12000 ]"
kill -TERM $SINK_PID; wait $SINK_PID
rewrites=$(grep -c "asking Redis to rewrite" "$T/sink.log")
checkpoints=$(grep -c "PCA model" "$T/sink.log")
file=$(aof_mb)
data=$(( $(rcli info memory | sed -n 's/^used_memory_dataset:\([0-9]*\).*/\1/p') >> 20 ))
if [ "$(counter stored)" = 12000 ] && [ "$checkpoints" -ge 3 ] && [ "$rewrites" = 0 ] &&
    [ "$data" -ge 70 ] && [ "$file" -le $((2 * data + 1 + 15)) ]; then
    pass aof_data_not_rewritten
else
    fail aof_data_not_rewritten "stored $(counter stored), $rewrites rewrites asked over $checkpoints checkpoints, file $file MB, data $data MB"
fi
echo "aof: 12,000 results: $rewrites rewrites over $checkpoints checkpoints, file $file MB, data $data MB" >&2
