# frames.sh -- messages of several frames, as the ventilator and the workers send them,
# with a bad frame among good ones: the bad frame is dropped and counted, every good one
# is featurized and stored, and a bad frame in last place still lets the worker's message
# of results go out; a flood of bad frames is counted in batches. Messages are made by
# hand with tests/tools/send_frames, for upload entries made pending by hand (the sink
# stores only results of pending entries).
. tests/integration/lib.sh
. tests/integration/stream.lib

SEND=$B/tests/tools/send_frames
set -- $(ls "$DATA/Banana"/*.jpg | head -n 4)
A=$1 B_=$2 C=$3 D=$4
start_redis || { fail frames_redis "redis-server did not start"; exit 1; }
start_sink
start_worker w1 --size 100

# stored_is N: fs:counters stored reaches N (stream.lib's wait), and no more
stored_is() { stored_at_least "$1" && [ "$(counter stored)" -eq "$1" ]; }
status_of() { rcli hget "fs:image:$1" status; }

# pending KEY: a pending upload entry for KEY; prints its ID
pending() { rcli xadd fs:uploads '*' key "$1" >/dev/null && deliver_uploads; }

"$SEND" "ipc://$T/tasks" bind "task:$A@$(pending "$A")" garbage "task:$B_@$(pending "$B_")" \
    2>"$T/send1.log"
if stored_is 2 && [ "$(status_of "$A")" = ok ] && [ "$(status_of "$B_")" = ok ]; then
    pass frames_bad_task_frame_between_good_ones
else
    fail frames_bad_task_frame_between_good_ones "stored=$(counter stored) $(cat "$T/send1.log")"
fi

"$SEND" "ipc://$T/tasks" bind "task:$C@$(pending "$C")" "task:$D@$(pending "$D")" garbage \
    2>"$T/send2.log"
if stored_is 4 && [ "$(status_of "$C")" = ok ] && [ "$(status_of "$D")" = ok ]; then
    pass frames_bad_task_frame_last_in_message
else
    fail frames_bad_task_frame_last_in_message "stored=$(counter stored) $(cat "$T/send2.log")"
fi
n=$(grep -c "dropped a malformed task" "$T/worker-w1.log")
[ "$n" -eq 2 ] && pass frames_worker_counts_bad_tasks ||
    fail frames_worker_counts_bad_tasks "$n warnings in the worker's log, expected 2"

"$SEND" "ipc://$T/results" connect "result:r1@$(pending r1)" garbage "result:r2@$(pending r2)" \
    2>"$T/send3.log"
if stored_is 6 && [ "$(status_of r1)" = ok ] && [ "$(status_of r2)" = ok ] &&
    [ "$(counter malformed)" -eq 1 ]; then
    pass frames_bad_result_frame_between_good_ones
else
    fail frames_bad_result_frame_between_good_ones "stored=$(counter stored) malformed=$(counter malformed) $(cat "$T/send3.log")"
fi

# A frame larger than the result socket accepts (WIRE_RESULT_FRAME_MAX, 64 KiB): the sink
# drops the peer's connection as the frame comes in, instead of holding it whole (a message
# of 8 frames of 100 MB made a sink of 830 MB). Four frames of 16 MB in one message leave
# the sink's peak RSS (VmHWM) within a few MB, and the sink goes on storing results, the
# longest a worker may send (a key of KEY_IMAGE_MAX_LEN = 1024 bytes) among them.
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$SINK_PID/status"; }
hwm0=$(hwm)
big=16777216
timeout 20 "$SEND" "ipc://$T/results" connect "garbage:$big" "garbage:$big" "garbage:$big" \
    "garbage:$big" 2>"$T/send4.log"
sleep 1
hwm1=$(hwm)
grown=$(((hwm1 - hwm0) / 1024))
echo "# sink peak RSS: $((hwm0 / 1024)) MB, then $((hwm1 / 1024)) MB" >&2
if [ "$grown" -lt 16 ] && kill -0 "$SINK_PID" 2>/dev/null; then
    pass frames_oversized_result_frame_not_held
else
    fail frames_oversized_result_frame_not_held "sink peak RSS grew by $grown MB (from $((hwm0 / 1024)) MB) on 4 frames of 16 MB; malformed=$(counter malformed)"
fi
long=$(printf '%01024d' 7)
"$SEND" "ipc://$T/results" connect "result:r3@$(pending r3)" "result:$long@$(pending "$long")" \
    2>"$T/send5.log"
if stored_is 8 && [ "$(status_of r3)" = ok ] && [ "$(status_of "$long")" = ok ]; then
    pass frames_results_stored_after_oversized_frame
else
    fail frames_results_stored_after_oversized_frame "stored=$(counter stored) $(cat "$T/send5.log")"
fi

# A flood of malformed frames (20,000 in one message) is counted in full, with one Redis
# round trip a batch (of up to 1,024 frames; the store script's HINCRBYs count here too) and
# a few log lines, where it took one of each per frame; the results after it are stored.
hincrby() { rcli info commandstats | sed -n 's/^cmdstat_hincrby:calls=\([0-9]*\),.*/\1/p'; }
m0=$(counter malformed) calls0=$(hincrby) lines0=$(grep -c malformed "$T/sink.log")
timeout 20 "$SEND" "ipc://$T/results" connect "20000*garbage" 2>"$T/send6.log"
"$SEND" "ipc://$T/results" connect "result:r4@$(pending r4)" 2>>"$T/send6.log"
stored_is 9
sleep 1.5 # the last warning counts the frames not named in one, within a second
calls=$(($(hincrby) - calls0)) lines=$(($(grep -c malformed "$T/sink.log") - lines0))
if [ "$(counter malformed)" -eq $((m0 + 20000)) ] && [ "$(status_of r4)" = ok ] &&
    [ "$calls" -le 40 ] && [ "$lines" -le 10 ] &&
    grep -q "dropped [0-9]* more malformed messages ($((m0 + 20000)) so far)" "$T/sink.log"; then
    pass frames_malformed_flood_counted_in_batches
else
    fail frames_malformed_flood_counted_in_batches "malformed $(counter malformed) (from $m0), $calls HINCRBY calls, $lines log lines, r4 $(status_of r4)"
fi
