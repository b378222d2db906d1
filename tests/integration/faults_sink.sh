# faults_sink.sh -- kill -9 the sink mid-stream and start it again: it reloads its PCA
# checkpoint, rereads the results stored after it, and every key is stored exactly once.
# The final model must equal that of an undisturbed run over the same images, made first
# in this test on a fresh Redis (1e-6 relative: stream.lib's models_equal says why).
. tests/integration/lib.sh
. tests/integration/stream.lib

make_list "$T/list" 80 Banana Kiwi Limes Cocos Lemon Pear Peach
SINK_OPTS="--refresh-seconds 0.5"

# 1. the reference: a clean run, then a clean stop of the sink
start_redis || { fail sink_redis "redis-server did not start"; exit 1; }
start_sink $SINK_OPTS
start_ventilator --lease-ms $LEASE
start_worker w1 --size $S
start_worker w2 --size $S
feed uploader "$T/list" 200 0
wait_done sink_reference_completes "$T/list" 60 || exit 1
stop_sink_check sink_reference_pca_n
model_dump "$T/reference.model"
kill -TERM $VENT_PID; wait $VENT_PID
kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
rm -rf "$T/appendonlydir" "$T/redis.sock"
rm -f "$T"/list.chunk.*

# 2. the same images with the sink killed twice mid-stream (once early, before any
# checkpoint, once after a few) and restarted
start_redis || { fail sink_redis "redis-server did not start again"; exit 1; }
start_sink $SINK_OPTS
start_ventilator --lease-ms $LEASE
feed uploader "$T/list" 40 0.25
kills=0
for at in 30 300; do
    stored_at_least $at || { fail sink_progress "stored stuck at $(counter stored)"; exit 1; }
    kill -9 $SINK_PID; wait $SINK_PID 2>/dev/null
    kills=$((kills + 1))
    sleep 0.5
    bg "sink-$kills" "$B/fruitstream-sink" --results "ipc://$T/results" $SINK_OPTS
    SINK_PID=$LAST_PID
done
wait_done sink_kill9_completes "$T/list" 60 || exit 1
check_once sink_kill9_every_key_once "$T/list"
grep -q "PCA: checkpoint had [1-9]" "$T/sink-2.log" && pass sink_restart_resumes_from_checkpoint ||
    fail sink_restart_resumes_from_checkpoint "$(grep PCA "$T"/sink-*.log | head -n 3)"
stop_sink_check sink_kill9_pca_n
model_dump "$T/after_kills.model"
if why=$(models_equal "$T/reference.model" "$T/after_kills.model"); then
    pass sink_kill9_model_equals_undisturbed_run
else
    fail sink_kill9_model_equals_undisturbed_run "$why"
fi
echo "$why" >&2
