# retain.sh -- bounded Redis: a sink with --retain keeps only the newest COUNT stored images
# (hashes and fs:stored entries) while its PCA keeps counting every one, and `export
# --since` in two steps, each taken before trimming reached it, loses nothing and repeats
# nothing; --retain-age trims by age; a restarted sink over a trimmed Redis goes on with
# the same count. Results are synthetic (bench/feed_results), straight to the sink.
. tests/integration/lib.sh
FS=$B/fruitstream
KEEP=200
start_redis || { fail retain_redis "redis-server did not start"; exit 1; }
start_sink --retain $KEEP --refresh-seconds 0.5
images() { rcli --scan --pattern 'fs:image:*' | wc -l; }

feed_synthetic 150 0
wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 150 ]" ||
    { fail retain_feed "stored $(counter stored)"; exit 1; }
"$FS" export --features --out "$T/first.csv" 2>"$T/first.log"
since=$(sed -n 's/.*last seq \([0-9]*\).*/\1/p' "$T/first.log")
feed_synthetic 150 150
wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 300 ]" ||
    { fail retain_feed "stored $(counter stored)"; exit 1; }
"$FS" export --features --since "$since" --out "$T/second.csv" 2>"$T/second.log"
cut -d, -f1 "$T/first.csv" "$T/second.csv" | grep -v '^path$' | sort >"$T/exported"
if [ "$since" = 150 ] && [ "$(wc -l <"$T/exported")" -eq 300 ] &&
    [ "$(sort -u "$T/exported" | wc -l)" -eq 300 ]; then
    pass retain_export_since_loses_nothing
else
    fail retain_export_since_loses_nothing "since=$since, $(wc -l <"$T/exported") rows, $(sort -u "$T/exported" | wc -l) distinct; $(tail -n 1 "$T/second.log")"
fi

if wait_for 15 "[ \$(redis-cli -s $T/redis.sock --scan --pattern 'fs:image:*' | wc -l) -eq $KEEP ]" &&
    [ "$(rcli xlen fs:stored)" -eq $KEEP ] && [ "$(rcli exists fs:image:bench/99.jpg)" -eq 0 ] &&
    [ "$(rcli exists fs:image:bench/100.jpg)" -eq 1 ] &&
    [ "$(rcli xrange fs:stored - + count 1 | head -n 1)" = "101-1" ]; then
    pass retain_count_keeps_newest
else
    fail retain_count_keeps_newest "$(images) images, xlen $(rcli xlen fs:stored), first $(rcli xrange fs:stored - + count 1 | head -n 1)"
fi

# The PCA counted all 300, and a restart over the trimmed Redis loses none of them.
kill -TERM $SINK_PID; wait $SINK_PID
n1=$(rcli hget fs:pca:model n)
start_sink --retain $KEEP --refresh-seconds 0.5
feed_synthetic 100 300
wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 400 ]"
wait_for 15 "[ \$(redis-cli -s $T/redis.sock --scan --pattern 'fs:image:*' | wc -l) -eq $KEEP ]"
kill -TERM $SINK_PID; wait $SINK_PID
n2=$(rcli hget fs:pca:model n)
if [ "$n1" = 300 ] && [ "$n2" = 400 ] && [ "$(images)" -eq $KEEP ] &&
    ! grep -q "ERROR\|error" "$T/sink.log"; then
    pass retain_pca_counts_trimmed_images
else
    fail retain_pca_counts_trimmed_images "pca n $n1 then $n2 (300, 400), $(images) images, $(grep -i error "$T/sink.log" | head -n 2)"
fi

# By age: everything stored so far is older than 1 s; the next 50 are kept.
start_sink --retain-age 1s --refresh-seconds 0.5
sleep 1.2
feed_synthetic 50 400
wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 450 ]"
if wait_for 5 "[ \$(redis-cli -s $T/redis.sock --scan --pattern 'fs:image:*' | wc -l) -eq 50 ]" &&
    [ "$(rcli exists fs:image:bench/449.jpg)" -eq 1 ]; then
    pass retain_age_trims_older
else
    fail retain_age_trims_older "$(images) images after 1.2 s"
fi
if wait_for 5 "[ \$(redis-cli -s $T/redis.sock --scan --pattern 'fs:image:*' | wc -l) -eq 0 ]"; then
    pass retain_age_trims_all_in_time
else
    fail retain_age_trims_all_in_time "$(images) images left after 2 s more"
fi
