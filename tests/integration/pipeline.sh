# pipeline.sh -- the whole pipeline on a few hundred real images: two workers (the second
# running two threads on one copy of the weights), a third that joins mid-run, a corrupt and
# a truncated JPEG. Every key must be stored exactly once with its label and the very
# features `fruitstream featurize` prints for its file.
. tests/integration/lib.sh

CLASSES="Banana Kiwi Limes Apple_Braeburn"
: >"$T/list"
for c in Banana Kiwi Limes "Apple Braeburn"; do
    ls "$DATA/$c"/*.jpg | head -n 100 >>"$T/list"
done
mkdir -p "$T/Broken"
head -c 2000 /dev/urandom >"$T/Broken/random.jpg"
first=$(head -n 1 "$T/list")
head -c 1500 "$first" >"$T/Broken/truncated.jpg"
printf '%s\n%s\n' "$T/Broken/random.jpg" "$T/Broken/truncated.jpg" >>"$T/list"
GOOD=400

start_redis || { fail pipeline_redis "redis-server did not start"; exit 1; }
start_sink
start_ventilator --list "$T/list" --allow-path "$DATA" --allow-path "$T/Broken"
start_worker w1
start_worker w2 --threads 2
if wait_for 60 "[ \$(redis-cli -s $T/redis.sock hget fs:counters stored) -ge 40 ]"; then
    start_worker w3
else
    fail pipeline_progress "nothing stored within 60 s: $(tail -n 3 "$T"/*.log)"
    exit 1
fi
wait_for 120 "[ \$(redis-cli -s $T/redis.sock xlen fs:uploads) -eq 0 ]" ||
    { fail pipeline_completes "uploads left: $(rcli xlen fs:uploads)"; exit 1; }
pass pipeline_completes

stored=$(counter stored); failed=$(counter failed); entries=$(rcli xlen fs:stored)
distinct=$(rcli xrange fs:stored - + | grep -v -- '-1$' | grep -vx key | sort -u | wc -l)
if [ "$stored" -eq $GOOD ] && [ "$entries" -eq $GOOD ] && [ "$distinct" -eq $GOOD ]; then
    pass pipeline_every_key_stored_once
else
    fail pipeline_every_key_stored_once "stored=$stored entries=$entries distinct=$distinct"
fi

labels_ok=1
for c in Banana Kiwi Limes "Apple Braeburn"; do
    [ "$(rcli hget fs:labels "$c")" = 100 ] || labels_ok=0
done
[ "$(rcli hlen fs:labels)" = 4 ] || labels_ok=0
label_of_first=$(rcli hget "fs:image:$first" label)
if [ $labels_ok = 1 ] && [ "$label_of_first" = Banana ]; then
    pass pipeline_labels_from_folders
else
    fail pipeline_labels_from_folders "$(rcli hgetall fs:labels | tr '\n' ' ')"
fi

reason=$(rcli hget "fs:image:$T/Broken/random.jpg" error)
if [ "$failed" -eq 2 ] && [ "$(rcli scard fs:failed)" = 2 ] && [ -n "$reason" ] &&
    [ "$(rcli hget "fs:image:$T/Broken/truncated.jpg" status)" = failed ]; then
    pass pipeline_corrupt_images_recorded_as_failed
else
    fail pipeline_corrupt_images_recorded_as_failed "failed=$failed reason='$reason'"
fi

n1=$(results_by w1); n3=$(results_by w3)
if [ "$n1" -gt 0 ] && [ "$n3" -gt 0 ]; then
    pass pipeline_late_worker_takes_part
else
    fail pipeline_late_worker_takes_part "results by w1=$n1 w3=$n3"
fi
# Each thread of w2 is a worker of its own: results and heartbeats under w2-1 and w2-2.
n21=$(results_by w2-1); n22=$(results_by w2-2); n2=$(results_by w2)
if [ "$n21" -gt 0 ] && [ "$n22" -gt 0 ] && [ "$n2" -eq 0 ] &&
    [ "$(rcli exists fs:worker:w2-1 fs:worker:w2-2)" = 2 ]; then
    pass pipeline_worker_threads_each_take_part
else
    fail pipeline_worker_threads_each_take_part \
        "results by w2-1=$n21 w2-2=$n22 w2=$n2; $(rcli keys 'fs:worker:*' | tr '\n' ' ')"
fi

# The stored features, exported, must equal featurize's output for the same files, digit
# for digit (both print %.9g of the same float32 values).
"$B/fruitstream" export --features --out "$T/export.csv" 2>"$T/export.log"
tail -n +2 "$T/export.csv" | awk -F, '{ printf "%s", $1; for (i = 3; i <= NF; i++) printf " %s", $i; print "" }' |
    sort >"$T/stored.txt"
grep -v Broken "$T/list" | tr '\n' '\0' | xargs -0 "$B/fruitstream" featurize --weights "$WEIGHTS" |
    tr '\t' ' ' | sort >"$T/featurized.txt"
if [ "$(wc -l <"$T/stored.txt")" -eq $GOOD ] && cmp -s "$T/stored.txt" "$T/featurized.txt"; then
    pass pipeline_features_equal_featurize
else
    fail pipeline_features_equal_featurize "$(wc -l <"$T/stored.txt") exported rows; $(diff "$T/stored.txt" "$T/featurized.txt" | head -c 300)"
fi

kill -TERM $SINK_PID $VENT_PID
wait_for 20 "! kill -0 $SINK_PID 2>/dev/null && ! kill -0 $VENT_PID 2>/dev/null" &&
    [ "$(rcli hget fs:pca:model n)" = $GOOD ] &&
    pass pipeline_clean_shutdown_publishes_pca ||
    fail pipeline_clean_shutdown_publishes_pca "pca n=$(rcli hget fs:pca:model n)"
