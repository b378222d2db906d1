# query.sh -- `fruitstream query` against a real pipeline: Test images already stored find
# themselves first (at distance ~0) and their folder's label wins the vote, with the model
# refreshed mid-stream so that older stored projections must be projected again; the
# output has the documented shape; an unreadable file is named and the others answered;
# no model yet is an error; hostile keys and labels are escaped; a failed write is an
# error; a stored key that is not a hash is skipped; upload refuses a file past
# --max-image-bytes.
. tests/integration/lib.sh
S=100
FS=$B/fruitstream
K=3
start_redis || { fail query_redis "redis-server did not start"; exit 1; }

"$FS" query --weights "$WEIGHTS" "$DATA/Banana/$(ls "$DATA/Banana" | head -n 1)" >"$T/none.out" 2>"$T/none.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "no PCA model" "$T/none.err"; then
    pass query_without_model_fails
else
    fail query_without_model_fails "exit $rc: $(head -c 200 "$T/none.err")"
fi

start_sink --refresh-every 40 --refresh-min-seconds 0
start_ventilator
start_worker w1 --size $S
for c in Banana Kiwi Limes; do ls "$DATA/$c"/*.jpg | head -n 30; done >"$T/list"
tr '\n' '\0' <"$T/list" | xargs -0 "$FS" upload 2>/dev/null
wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 90 ] &&
             [ \"\$(redis-cli -s $T/redis.sock hget fs:pca:model n)\" -ge 80 ]" ||
    { fail query_pipeline "stored $(counter stored), model n $(rcli hget fs:pca:model n)"; exit 1; }

# A sink stopping publishes a model of every vector it has; images stored after that carry
# its version, the 90 before it older ones. Restarted over the same sums, the sink computes
# that model again and keeps its version (a new one would have every reader project every
# stored image again), and writes no checkpoint of the sums it read from one.
kill -TERM $SINK_PID; wait $SINK_PID
stopped_version=$(rcli hget fs:pca:model version) stopped_ms=$(rcli hget fs:pca:model updated_ms)
saved_ms=$(rcli hget fs:pca:state saved_ms)
start_sink --refresh-every 100000 --refresh-seconds 600
ls "$DATA"/Lemon/*.jpg | head -n 10 >"$T/more"
tr '\n' '\0' <"$T/more" | xargs -0 "$FS" upload 2>/dev/null
wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 100 ]" ||
    { fail query_pipeline "stored $(counter stored) after the restart"; exit 1; }
lemon_version=$(rcli hget "fs:image:$(sed -n 1p "$T/more")" pca_version)
if [ "$(rcli hget fs:pca:model version)" = "$stopped_version" ] &&
    [ "$(rcli hget fs:pca:model updated_ms)" = "$stopped_ms" ] &&
    [ "$lemon_version" = "$stopped_version" ] && [ "$(rcli hget fs:pca:state saved_ms)" = "$saved_ms" ] &&
    grep -q "PCA model v$stopped_version: n=90 .*(as published before)" "$T/sink.log"; then
    pass query_sink_restart_keeps_model_version
else
    fail query_sink_restart_keeps_model_version "stopped at v$stopped_version, now \
v$(rcli hget fs:pca:model version), a new image has v$lemon_version, checkpoint saved at \
$saved_ms then $(rcli hget fs:pca:state saved_ms): $(grep 'PCA model' "$T/sink.log")"
fi

# Two stored images of each class (old and new projections), and a path that does not exist.
for c in Banana Kiwi Limes; do grep "/$c/" "$T/list" | sed -n '5p;20p'; done >"$T/queries"
sed -n '3p;7p' "$T/more" >>"$T/queries"
IFS='
'
set -- $(cat "$T/queries")
unset IFS
"$FS" query --k $K --weights "$WEIGHTS" "$@" "$T/missing.jpg" >"$T/query.out" 2>"$T/query.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "missing.jpg" "$T/query.err" && ! grep -q "missing.jpg" "$T/query.out"; then
    pass query_unreadable_file_named
else
    fail query_unreadable_file_named "exit $rc: $(head -c 300 "$T/query.err")"
fi
if awk -F'\t' -v k=$K '
    $1 != "" { if (n && got != k) bad = bad " " file ": " got " neighbours"
               file = $1; label = $2; got = 0; n++
               if (NF != 3 || $3 < 1 || $3 > k) bad = bad " bad head: " $0
               split(file, p, "/"); if (label != p[length(p) - 1]) bad = bad " " file " voted " label
               next }
    { got++; if (NF != 4 || $3 == "") bad = bad " bad neighbour line: " $0
      if (got == 1 && ($2 != file || $4 > 0.001)) bad = bad " " file " nearest is " $2 " at " $4 }
    END { if (got != k) bad = bad " last: " got; if (n != 8) bad = bad " " n " answers"
          if (bad != "") { print bad; exit 1 } }' "$T/query.out" >"$T/check" 2>&1; then
    pass query_stored_images_find_themselves
else
    fail query_stored_images_find_themselves "$(head -c 400 "$T/check")"
fi
if grep -q "gallery: 100 stored images (90 projected again" "$T/query.err"; then
    pass query_reprojects_older_versions
else
    fail query_reprojects_older_versions "$(grep gallery "$T/query.err")"
fi
grep gallery "$T/query.err" >&2

# A key and a label holding a tab, a line break and a backslash (anyone who can upload
# chooses them): each neighbour is still one line of 4 fields, those bytes escaped, so that
# no stored name can forge another neighbour or vote.
img=$(ls "$DATA"/Lemon/*.jpg | sed -n 15p)
"$FS" upload --key "$(printf 'evil\tkey\nforged\\x')" --label "$(printf 'Lemon\n\t99')" "$img" 2>/dev/null
wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters stored)\" = 101 ]"
"$FS" query --k 1 --weights "$WEIGHTS" "$img" >"$T/evil.out" 2>/dev/null
want=$(printf '\tevil\\tkey\\nforged\\\\x\tLemon\\n\\t99\t')
if [ "$(wc -l <"$T/evil.out")" = 2 ] && [ "$(sed -n 2p "$T/evil.out" | cut -f 1-3)	" = "$want" ] &&
    [ "$(sed -n 2p "$T/evil.out" | awk -F'\t' '{ print NF }')" = 4 ]; then
    pass query_names_escaped
else
    fail query_names_escaped "$(od -c "$T/evil.out" | head -n 8 | tr '\n' ' ')"
fi

# An fs:image:* key that is not a hash (anyone who can write to Redis can make one), named
# by a stored entry, is skipped: the others are still answered.
rcli set fs:image:not-a-hash junk >/dev/null
rcli xadd fs:stored '*' key not-a-hash >/dev/null
"$FS" query --k 1 --weights "$WEIGHTS" "$img" >"$T/junk.out" 2>"$T/junk.err"
rc=$?
if [ $rc = 0 ] && [ "$(wc -l <"$T/junk.out")" = 2 ] &&
    grep -q "gallery: 101 stored images (.* 1 skipped)" "$T/junk.err"; then
    pass query_skips_a_record_that_is_not_a_hash
else
    fail query_skips_a_record_that_is_not_a_hash "exit $rc: $(tail -n 2 "$T/junk.err" | tr '\n' ' ')"
fi

# Answers that cannot be written (a full disk: /dev/full) are an error, exit status 1.
"$FS" query --k 1 --weights "$WEIGHTS" "$img" >/dev/full 2>"$T/full.err"
rc=$?
if [ $rc = 1 ] && grep -q "writing the answers: No space left" "$T/full.err"; then
    pass query_full_disk_is_an_error
else
    fail query_full_disk_is_an_error "exit $rc: $(tail -n 1 "$T/full.err")"
fi

# upload reads no more of a file than --max-image-bytes (default 64M, the ventilator's),
# so /dev/zero is refused at once, and a file past the limit is named and not sent.
before=$(rcli xlen fs:uploads)
"$FS" upload --key big --max-image-bytes 1K "$img" 2>"$T/big.err"
rc1=$?
timeout 20 "$FS" upload --key zeros /dev/zero 2>"$T/zero.err"
rc2=$?
if [ $rc1 = 1 ] && [ $rc2 = 1 ] && grep -q "$img: larger than --max-image-bytes" "$T/big.err" &&
    grep -q "/dev/zero: larger than --max-image-bytes" "$T/zero.err" &&
    [ "$(rcli xlen fs:uploads)" = "$before" ] && [ "$(rcli exists fs:blob:big fs:blob:zeros)" = 0 ]; then
    pass upload_refuses_files_past_the_limit
else
    fail upload_refuses_files_past_the_limit "exit $rc1 and $rc2: $(tail -n 2 "$T/big.err" "$T/zero.err" | tr '\n' ' ')"
fi

# A published model that is not the sums' own is never adopted: a sink starting over one
# whose axes differ by one byte (written by something else), or whose version is not a
# number, publishes its own model, under a version of its own.
kill -TERM $SINK_PID; wait $SINK_PID
v=$(rcli hget fs:pca:model version)
rcli eval "local a = redis.call('HGET', KEYS[1], 'axes')
    redis.call('HSET', KEYS[1], 'axes', string.char((a:byte(1) + 1) % 256) .. a:sub(2))" \
    1 fs:pca:model >/dev/null
start_sink
wait_for 30 "grep -q 'PCA model' $T/sink.log"
kill -TERM $SINK_PID; wait $SINK_PID
altered=$(grep 'PCA model' "$T/sink.log")
rcli hset fs:pca:model version junk >/dev/null
start_sink
wait_for 30 "grep -q 'PCA model' $T/sink.log"
junk=$(grep 'PCA model' "$T/sink.log")
if [ "$(echo "$altered" | grep -c "PCA model v$((v + 1)): n=.*[0-9]$")" = 1 ] &&
    [ "$(echo "$junk" | grep -c "PCA model v1: n=.*[0-9]$")" = 1 ] &&
    [ "$(rcli hget fs:pca:model version)" = 1 ]; then
    pass query_sink_adopts_no_foreign_model
else
    fail query_sink_adopts_no_foreign_model "published v$v; axes altered: $altered; version junk: $junk"
fi
