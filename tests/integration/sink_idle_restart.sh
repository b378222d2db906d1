# sink_idle_restart.sh -- Redis restarted while the sink is idle (no results coming). Its
# once-a-second samples (fs:metrics) must resume by themselves: before, only storing a
# batch or publishing a model made the connection again, so an idle sink's samples,
# heartbeat records and trims failed silently for ever.
. tests/integration/lib.sh
start_redis || { fail sink_idle_restart_redis "redis-server did not start"; exit 1; }
start_sink
wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock xlen fs:metrics)\" -ge 2 ]" ||
    { fail sink_idle_restart_samples "no samples: $(tail -n 2 "$T/sink.log")"; exit 1; }
kill -9 "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
start_redis || { fail sink_idle_restart_redis "redis-server did not start again"; exit 1; }
before=$(rcli xlen fs:metrics)
if wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock xlen fs:metrics)\" -ge $((before + 2)) ]" &&
    kill -0 "$SINK_PID"; then
    pass sink_idle_restart_samples_resume
else
    fail sink_idle_restart_samples_resume "fs:metrics $before then $(rcli xlen fs:metrics) after 10 s: $(tail -n 2 "$T/sink.log")"
fi
kill -TERM "$SINK_PID"
wait "$SINK_PID"
status=$?
[ $status = 0 ] && pass sink_idle_restart_clean_stop || fail sink_idle_restart_clean_stop "exit status $status"
