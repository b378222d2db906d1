# forged_results.sh -- issue 12, findings 4 and 5: a peer on the result port sends results
# of its own. The sink stores a result only for a pending upload entry naming the same key:
# a made-up entry, another upload's entry, an entry ID Redis refuses are each rejected and
# counted, nothing of them is stored or deleted, and the real results in the same message
# are stored. A refused ID does not make the sink retry forever. A result whose features
# the PCA cannot take (NaN, infinite, or finite beyond its range) is stored as failed.
. tests/integration/lib.sh

SEND=$B/tests/tools/send_frames
JPEG=$(ls "$DATA/Banana"/*.jpg | head -n 1)
RESULTS=tcp://127.0.0.1:$(free_port)
start_redis || { fail forged_redis "redis-server did not start"; exit 1; }
bg sink "$B/fruitstream-sink" --results "$RESULTS"
SINK_PID=$LAST_PID
for k in k1 k2 k3; do "$B/fruitstream" upload --key "$k" "$JPEG" 2>/dev/null; done
set -- $(deliver_uploads)
E1=$1 E2=$2 E3=$3
[ -n "$E3" ] || { fail forged_setup "uploads not pending: $(rcli xinfo groups fs:uploads)"; exit 1; }

# 1. made-up entry; 2. another upload's entry (k1's) with another key; 3. k3's entry with
# k2's key; 4. IDs Redis refuses, between good frames.
"$SEND" "$RESULTS" connect "result:evil@1-1" "result:evil2@$E1" "result:k2@$E3" \
    2>"$T/send1.log"
wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters rejected)\" = 3 ]"
images=$(rcli --scan --pattern 'fs:image:*' | wc -l)
if [ "$(counter rejected)" -eq 3 ] && [ "$images" -eq 0 ] && [ "$(rcli xlen fs:uploads)" -eq 3 ] &&
    [ "$(rcli xpending fs:uploads fs:ventilators | head -n 1)" -eq 3 ] &&
    [ "$(rcli exists fs:blob:k1 fs:blob:k2 fs:blob:k3)" -eq 3 ]; then
    pass forged_results_rejected_nothing_touched
else
    fail forged_results_rejected_nothing_touched "rejected=$(counter rejected) images=$images uploads=$(rcli xlen fs:uploads) blobs=$(rcli exists fs:blob:k1 fs:blob:k2 fs:blob:k3)"
fi

"$SEND" "$RESULTS" connect "result:k1@$E1" "result:k2@99999999999999999999999-1" \
    "result:k2@$E2" "result:k3@not-an-id" "result:k3@$E3" 2>"$T/send2.log"
stored_is() { wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" -ge $1 ]"; }
if stored_is 3 && [ "$(counter stored)" -eq 3 ] && [ "$(counter rejected)" -eq 5 ] &&
    [ "$(rcli xlen fs:uploads)" -eq 0 ] && [ "$(rcli exists fs:blob:k1 fs:blob:k2 fs:blob:k3)" -eq 0 ] &&
    [ -z "$(rcli exists fs:image:evil fs:image:evil2 | grep -v '^0$')" ]; then
    pass forged_results_refused_ids_do_not_stop_good_ones
else
    fail forged_results_refused_ids_do_not_stop_good_ones "stored=$(counter stored) rejected=$(counter rejected) uploads=$(rcli xlen fs:uploads) $(tail -n 3 "$T/sink.log")"
fi

# An image key already taken by something that is not a result (a string): that result is
# rejected, its neighbours in the message stored, the counters right.
"$B/fruitstream" upload --key k4 "$JPEG" 2>/dev/null
"$B/fruitstream" upload --key k5 "$JPEG" 2>/dev/null
rcli set fs:image:k4 "not a hash" >/dev/null
set -- $(deliver_uploads)
"$SEND" "$RESULTS" connect "result:k4@$1" "result:k5@$2" 2>>"$T/send2.log"
if stored_is 4 && [ "$(counter stored)" -eq 4 ] && [ "$(counter rejected)" -eq 6 ] &&
    [ "$(rcli get fs:image:k4)" = "not a hash" ] && [ "$(rcli hget fs:image:k5 status)" = ok ]; then
    pass forged_results_taken_image_key_rejected_alone
else
    fail forged_results_taken_image_key_rejected_alone "stored=$(counter stored) rejected=$(counter rejected) $(tail -n 2 "$T/sink.log")"
fi

# Redis refusing the store script itself (fs:stored made a string, so every XADD fails):
# the sink tries the result alone, rejects and counts it, and goes on; no busy loop.
rcli rename fs:stored fs:stored.saved >/dev/null
rcli set fs:stored "not a stream" >/dev/null
"$B/fruitstream" upload --key k6 "$JPEG" 2>/dev/null
"$SEND" "$RESULTS" connect "result:k6@$(deliver_uploads)" 2>>"$T/send2.log"
wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters rejected)\" = 7 ]"
sleep 1
refusals=$(grep -c "storing 1 results failed" "$T/sink.log")
if [ "$(counter rejected)" -eq 7 ] && [ "$(rcli exists fs:image:k6)" = 0 ] &&
    [ "$refusals" -le 2 ] && kill -0 "$SINK_PID"; then
    pass forged_results_refused_script_not_retried_forever
else
    fail forged_results_refused_script_not_retried_forever "rejected=$(counter rejected) refusals logged=$refusals"
fi
rcli del fs:stored >/dev/null
rcli rename fs:stored.saved fs:stored >/dev/null

# Staging keys planted by another client, of other types: the store's transaction deletes
# them before staging its blobs, so the results are stored whole, once (no fs:stored entry
# left by a script that failed on them), and nothing is left.
"$B/fruitstream" upload --key k7 "$JPEG" 2>/dev/null
"$B/fruitstream" upload --key k8 "$JPEG" 2>/dev/null
rcli set fs:staging:0 "not a hash" >/dev/null
rcli rpush fs:staging:1 "a list" >/dev/null
set -- $(deliver_uploads)
"$SEND" "$RESULTS" connect "result:k7@$1" "result:k8@$2" 2>>"$T/send2.log"
if stored_is 6 && [ "$(counter stored)" -eq 6 ] && [ "$(rcli xlen fs:stored)" -eq 6 ] &&
    [ "$(rcli hstrlen fs:image:k7 features)" -eq 5120 ] &&
    [ "$(rcli hstrlen fs:image:k8 features)" -eq 5120 ] &&
    [ "$(rcli hget fs:image:k8 status)" = ok ] &&
    [ "$(rcli --scan --pattern 'fs:staging:*' | wc -l)" -eq 0 ]; then
    pass forged_results_planted_staging_keys_harmless
else
    fail forged_results_planted_staging_keys_harmless "stored=$(counter stored) fs:stored $(rcli xlen fs:stored) k7 features $(rcli hstrlen fs:image:k7 features) bytes, staging left $(rcli --scan --pattern 'fs:staging:*' | wc -l); $(tail -n 2 "$T/sink.log")"
fi

# The real result sent again after it was stored is a duplicate, as before; the sink is
# alive and its log did not run away.
"$SEND" "$RESULTS" connect "result:k1@$E1" 2>>"$T/send2.log"
wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters duplicates)\" = 1 ]"
lines=$(wc -l <"$T/sink.log")
if [ "$(counter duplicates)" -eq 1 ] && kill -0 "$SINK_PID" 2>/dev/null &&
    [ "$lines" -lt 50 ] && [ "$(rcli hget fs:image:k1 worker)" = send_frames ]; then
    pass forged_results_sink_stays_quiet
else
    fail forged_results_sink_stays_quiet "duplicates=$(counter duplicates) log lines=$lines"
fi

# Entry IDs that are ranges to XPENDING and XRANGE: "MS" is all of millisecond MS, "(MS"
# excludes it. Only an entry named exactly vouches for a result. The entries are made by
# hand, in a millisecond ahead of every upload so far: an app's upload without a key field
# (its key is its entry ID) and the hostile peer's own task, then three more.
MS=$(($(date +%s%3N) + 100000))
rcli xadd fs:uploads "$MS-0" blob fs:blob:victim >/dev/null
rcli xadd fs:uploads "$MS-1" key mine blob fs:blob:mine >/dev/null
rcli set fs:blob:victim jpeg >/dev/null
rcli set fs:blob:mine jpeg >/dev/null
deliver_uploads >/dev/null
stored0=$(counter stored) rejected0=$(counter rejected)
"$SEND" "$RESULTS" connect "result:$MS@$MS" 2>>"$T/send2.log"
wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters rejected)\" = $((rejected0 + 1)) ]"
if [ "$(counter rejected)" -eq $((rejected0 + 1)) ] && [ "$(counter stored)" -eq "$stored0" ] &&
    [ "$(rcli exists fs:image:$MS fs:blob:victim)" -eq 1 ] &&
    [ "$(rcli xrange fs:uploads "$MS-0" "$MS-0" | grep -c "^$MS-0$")" -eq 1 ]; then
    pass forged_results_millisecond_entry_rejected
else
    fail forged_results_millisecond_entry_rejected "stored +$(($(counter stored) - stored0)) rejected +$(($(counter rejected) - rejected0)) image:$MS=$(rcli exists fs:image:$MS) blob:victim=$(rcli exists fs:blob:victim) entry $MS-0 left=$(rcli xrange fs:uploads "$MS-0" "$MS-0" | grep -c "^$MS-0$")"
fi
# the honest result for that upload is then stored
"$SEND" "$RESULTS" connect "result:$MS-0@$MS-0" 2>>"$T/send2.log"
if stored_is $((stored0 + 1)) && [ "$(rcli hget fs:image:$MS-0 status)" = ok ] &&
    [ "$(rcli exists fs:blob:victim)" -eq 0 ]; then
    pass forged_results_millisecond_entry_honest_stored
else
    fail forged_results_millisecond_entry_honest_stored "stored +$(($(counter stored) - stored0)) image:$MS-0 status=$(rcli hget fs:image:$MS-0 status)"
fi

# "(MS" between two real results of that millisecond: rejected alone; the call does not
# fail and get retried item by item (which counted every result twice).
MS2=$((MS + 1))
for i in 0 1 2; do
    rcli xadd fs:uploads "$MS2-$i" key "r$i" blob "fs:blob:r$i" >/dev/null
    rcli set "fs:blob:r$i" jpeg >/dev/null
done
deliver_uploads >/dev/null
stored0=$(counter stored) rejected0=$(counter rejected) dup0=$(counter duplicates)
"$SEND" "$RESULTS" connect "result:r0@$MS2-0" "result:r1@($MS2" "result:r2@$MS2-2" 2>>"$T/send2.log"
stored_is $((stored0 + 2))
sleep 0.5
if [ "$(counter stored)" -eq $((stored0 + 2)) ] && [ "$(counter rejected)" -eq $((rejected0 + 1)) ] &&
    [ "$(counter duplicates)" -eq "$dup0" ] && [ "$(rcli exists fs:image:r1 fs:blob:r1)" -eq 1 ] &&
    [ "$(rcli xpending fs:uploads fs:ventilators "$MS2-1" "$MS2-1" 1 | grep -c "^$MS2-1$")" -eq 1 ]; then
    pass forged_results_exclusive_range_entry_rejected
else
    fail forged_results_exclusive_range_entry_rejected "stored +$(($(counter stored) - stored0)) rejected +$(($(counter rejected) - rejected0)) duplicates +$(($(counter duplicates) - dup0)) image:r1+blob:r1=$(rcli exists fs:image:r1 fs:blob:r1)"
fi

# Forged features: NaN, Inf, and a finite value no feature comes near (1e30, whose products
# overflowed the PCA's float sums: every later model had an infinite total variance) are
# each stored as failed, naming the feature, and the PCA goes on with the good results: the
# next model is published.
kill "$SINK_PID"
wait "$SINK_PID" 2>/dev/null
RESULTS=tcp://127.0.0.1:$(free_port)
bg sink2 "$B/fruitstream-sink" --results "$RESULTS" --refresh-every 2 --refresh-min-seconds 0
for k in f1 f2 f3 f4 f5 f6; do "$B/fruitstream" upload --key "$k" "$JPEG" 2>/dev/null; done
set -- $(deliver_uploads)
stored0=$(counter stored) failed0=$(counter failed) version0=$(rcli hget fs:pca:model version)
"$SEND" "$RESULTS" connect "result=1e30:f1@$1" "result=nan:f2@$2" "result=-inf:f3@$3" \
    "result:f4@$4" "result:f5@$5" "result:f6@$6" 2>>"$T/send2.log"
stored_is $((stored0 + 3))
wait_for 10 "[ \"\$(redis-cli -s $T/redis.sock hget fs:pca:model version)\" -gt ${version0:-0} ]"
version=$(rcli hget fs:pca:model version) total=$(rcli hget fs:pca:model total_variance)
if [ "$(counter stored)" -eq $((stored0 + 3)) ] && [ "$(counter failed)" -eq $((failed0 + 3)) ] &&
    rcli hget fs:image:f1 error | grep -q "^feature 0 is 1e+30, outside" &&
    rcli hget fs:image:f2 error | grep -q "^feature 0 is -\{0,1\}nan, outside" &&
    rcli hget fs:image:f3 error | grep -q "^feature 0 is -inf, outside" &&
    [ "$(rcli hget fs:image:f4 status)" = ok ] && [ "${version:-0}" -gt "${version0:-0}" ] &&
    awk -v t="$total" 'BEGIN { exit !(t + 0 > 0 && t + 0 < 1e6) }'; then
    pass forged_results_out_of_range_features_failed_pca_goes_on
else
    fail forged_results_out_of_range_features_failed_pca_goes_on "stored +$(($(counter stored) - stored0)) failed +$(($(counter failed) - failed0)) f1: $(rcli hget fs:image:f1 error) f2: $(rcli hget fs:image:f2 error) model version $version0 -> $version total variance $total; $(tail -n 3 "$T/sink2.log")"
fi
