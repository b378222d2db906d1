# frames.sh -- messages of several frames, as the ventilator and the workers send them,
# with a bad frame among good ones: the bad frame is dropped and counted, every good one
# is featurized and stored, and a bad frame in last place still lets the worker's message
# of results go out. Messages are made by hand with tests/tools/send_frames, for upload
# entries made pending by hand (the sink stores only results of pending entries).
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
