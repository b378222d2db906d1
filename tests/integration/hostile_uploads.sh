# hostile_uploads.sh -- issue 12, findings 1, 2 and 6: upload entries written by someone
# who can write the stream but should not read this machine's files or Redis keys. Over TCP
# on loopback, with a real ventilator (--allow-path one folder), worker and sink:
#   a FIFO (would block open() forever), a directory, /dev/zero, a file outside the allowed
#   folder, a link inside it to a file outside, a blob naming a key not under fs:blob:, and
#   a blob larger than --max-image-bytes.
# Each is recorded as failed with its reason, nothing of them reaches a worker, no key is
# deleted, the ventilator's memory stays small, and good uploads among them are stored.
# Uploaded again under stored keys, with such blobs, they are settled as duplicates.
. tests/integration/lib.sh

TASKS=tcp://127.0.0.1:$(free_port)
RESULTS=tcp://127.0.0.1:$(free_port)
[ "$TASKS" = "$RESULTS" ] && RESULTS=tcp://127.0.0.1:$(free_port)
set -- $(ls "$DATA/Banana"/*.jpg | head -n 5)
mkdir -p "$T/allowed/sub" "$T/secret"
cp "$1" "$T/allowed/good1.jpg"; cp "$2" "$T/allowed/sub/good2.jpg"
cp "$3" "$T/secret/secret.jpg"
mkfifo "$T/allowed/fifo.jpg"
ln -s "$T/secret/secret.jpg" "$T/allowed/link.jpg"
ln -s /etc/passwd "$T/allowed/passwd.jpg"

start_redis || { fail hostile_redis "redis-server did not start"; exit 1; }
bg sink "$B/fruitstream-sink" --results "$RESULTS"
bg worker "$B/fruitstream-worker" --tasks "$TASKS" --results "$RESULTS" --weights "$WEIGHTS" \
    --size 100 --id w1
rcli set precious "$(cat "$4" | base64 -w0)" >/dev/null
"$B/fruitstream" upload --key blob-good "$5" 2>/dev/null
head -c 50000000 /dev/zero | rcli -x set fs:blob:big >/dev/null
up() { rcli xadd fs:uploads '*' key "$1" "$2" "$3" >/dev/null; }
up fifo path "$T/allowed/fifo.jpg"
up dir path "$T/allowed/sub"
up zero path /dev/zero
up outside path "$T/secret/secret.jpg"
up link path "$T/allowed/link.jpg"
up passwd path "$T/allowed/passwd.jpg"
up dotdot path "$T/allowed/../secret/secret.jpg"
up good1 path "$T/allowed/good1.jpg"
up not-a-blob blob precious
up labels blob fs:labels
up big blob fs:blob:big
up good2 path "$T/allowed/sub/good2.jpg"
rcli hset fs:labels Banana 7 >/dev/null
bg ventilator "$B/fruitstream-ventilator" --tasks "$TASKS" --allow-path "$T/allowed" \
    --max-image-bytes 1M
VENT_PID=$LAST_PID

if wait_for 60 "[ \"\$(redis-cli -s $T/redis.sock xlen fs:uploads)\" = 0 ] &&
        [ \"\$(redis-cli -s $T/redis.sock hget fs:counters failed)\" = 10 ]" &&
    [ "$(counter stored)" -eq 3 ] && [ "$(rcli hget fs:image:good1 status)" = ok ] &&
    [ "$(rcli hget fs:image:good2 status)" = ok ] && [ "$(rcli hget fs:image:blob-good status)" = ok ]; then
    pass hostile_uploads_good_ones_stored
else
    fail hostile_uploads_good_ones_stored "stored=$(counter stored) failed=$(counter failed) uploads left=$(rcli xlen fs:uploads) $(tail -n 3 "$T/ventilator.log")"
fi

# failed_with KEY TEXT: stored as failed, the reason mentions TEXT
bad=""
failed_with() {
    [ "$(rcli hget "fs:image:$1" status)" = failed ] &&
        rcli hget "fs:image:$1" error | grep -q "$2" || bad="$bad $1($(rcli hget "fs:image:$1" error))"
}
failed_with fifo "not a regular file"
failed_with dir "not a regular file"
failed_with zero "not inside"
failed_with outside "not inside"
failed_with link "not inside"
failed_with passwd "not inside"
failed_with dotdot "not inside"
failed_with not-a-blob "not a fs:blob:"
failed_with labels "not a fs:blob:"
failed_with big "too large"
[ -z "$bad" ] && pass hostile_uploads_each_refused_with_reason ||
    fail hostile_uploads_each_refused_with_reason "$bad"

# Nothing deleted: the keys the blobs named are still there, unchanged (7, plus the one
# labelled upload stored). An fs:blob: key goes with its upload, as always.
if [ "$(rcli get precious | base64 -d | cmp - "$4" && echo same)" = same ] &&
    [ "$(rcli hget fs:labels Banana)" = 8 ] && [ "$(rcli exists fs:blob:big)" = 0 ]; then
    pass hostile_uploads_nothing_deleted
else
    fail hostile_uploads_nothing_deleted "precious: $(rcli type precious), fs:labels Banana=$(rcli hget fs:labels Banana), big: $(rcli exists fs:blob:big)"
fi

# The 50 MB blob was measured, never fetched: the ventilator's peak memory stays small.
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$VENT_PID/status")
[ "${hwm:-999999}" -lt 30000 ] && kill -0 "$VENT_PID" && pass hostile_uploads_big_blob_not_read ||
    fail hostile_uploads_big_blob_not_read "ventilator peak RSS ${hwm} kB"

# Uploads again under keys already stored (ok or failed), with blobs naming other keys: the
# ventilator settles each as a duplicate without a task (settle_stored.lua), deletes only
# the blob under fs:blob:, and no key the others name.
rcli set fs:blob:again-ok "x" >/dev/null
up good1 blob precious
up fifo blob fs:labels
up blob-good blob fs:blob:again-ok
if wait_for 30 "[ \"\$(redis-cli -s $T/redis.sock hget fs:counters duplicates)\" = 3 ]" &&
    [ "$(rcli xlen fs:uploads)" = 0 ] && [ "$(rcli exists fs:blob:again-ok)" = 0 ] &&
    [ "$(rcli get precious | base64 -d | cmp - "$4" && echo same)" = same ] &&
    [ "$(rcli hget fs:labels Banana)" = 8 ] && [ "$(counter stored)" = 3 ] &&
    [ "$(counter failed)" = 10 ] && [ "$(rcli hget fs:image:good1 status)" = ok ]; then
    pass hostile_uploads_stored_keys_again_settled
else
    fail hostile_uploads_stored_keys_again_settled "duplicates $(counter duplicates), uploads left $(rcli xlen fs:uploads), blob $(rcli exists fs:blob:again-ok), labels Banana=$(rcli hget fs:labels Banana)"
fi
