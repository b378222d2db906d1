# faults_store.sh -- a store script that fails midway (Redis out of memory, say) has already
# taken sequence numbers it never used: fs:stored then has a gap. The sink must add every
# stored vector to the PCA exactly once across the gap. Simulated by taking three numbers
# from fs:counters between two groups of uploads. Between them Redis also forgets the store
# script (SCRIPT FLUSH): the sink's next transaction stages its blobs, runs into NOSCRIPT,
# and must load the script, store the batch again, and leave no staging hash behind.
. tests/integration/lib.sh
. tests/integration/stream.lib

make_list "$T/first" 10 Banana Kiwi Limes
make_list "$T/second" 10 Cocos Lemon Pear
cat "$T/first.keys" "$T/second.keys" | sort -u >"$T/all.keys"
start_redis || { fail store_redis "redis-server did not start"; exit 1; }
start_sink
start_ventilator --lease-ms $LEASE
start_worker w1 --size $S
KEYS_N=$(wc -l <"$T/first.keys")
feed uploader "$T/first" 100 0
wait_done store_first_group_stored "$T/first" 60 || exit 1
rcli hincrby fs:counters seq 3 >/dev/null
rcli script flush >/dev/null
KEYS_N=$(wc -l <"$T/all.keys")
feed uploader "$T/second" 100 0
wait_done store_second_group_stored_after_gap "$T/second" 60 || exit 1
entries=$(rcli xlen fs:stored)
last=$(rcli xrevrange fs:stored + - COUNT 1 | head -n 1)
[ "$entries" -eq "$KEYS_N" ] && [ "$last" = "$((KEYS_N + 3))-1" ] && pass store_gap_in_sequence ||
    fail store_gap_in_sequence "entries=$entries last=$last, keys $KEYS_N: the test made no gap"
stop_sink_check store_gap_pca_counts_each_vector_once
staging=$(rcli --scan --pattern 'fs:staging:*' | wc -l)
features=$(rcli --scan --pattern 'fs:image:*' | while read -r k; do rcli hstrlen "$k" features; done |
    sort -u | paste -sd' ')
noscript=$(rcli info errorstats | tr -d '\r' | sed -n 's/^errorstat_NOSCRIPT:count=//p')
[ "${noscript:-0}" -ge 1 ] && [ "$staging" -eq 0 ] && [ "$features" = 5120 ] &&
    pass store_after_noscript_no_staging_left ||
    fail store_after_noscript_no_staging_left "NOSCRIPT replies: ${noscript:-0} (the test made none?); staging hashes left: $staging; feature lengths: $features"
