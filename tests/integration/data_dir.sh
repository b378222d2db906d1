# data_dir.sh -- one Redis per data directory. Two servers over one append-only file both
# append to it, and one starting while the other is mid-write truncates it at the last whole
# command. So while `fruitstream serve` runs over DIR: a second pipeline over DIR is refused
# and names the running Redis; `status` and `export` over DIR read that Redis instead of
# starting their own; kill -9 of the service stops its children too, and once its Redis is
# gone, DIR is free again and holds every stored result. A lock file planted as a FIFO or a
# link is refused at once. The server has deploy/redis.conf's settings, keeps image hashes
# compact and takes huge pages.
. tests/integration/lib.sh

D=$T/data
mkdir -p "$T/more/Kiwi"
cp $(ls "$DATA/Kiwi"/*.jpg | head -n 2) "$T/more/Kiwi/"
set -- $(ls "$DATA/Limes"/*.jpg | head -n 3)
unset REDIS_URL

bg serve "$B/fruitstream" serve --data-dir "$D" --size 100 --workers 1 --weights "$WEIGHTS"
SERVE_PID=$LAST_PID
wait_for 30 "grep -q 'worker local' $T/serve.log"
URL=$(cat "$D/fruitstream.lock" 2>/dev/null)
SOCK=${URL#unix://}
"$B/fruitstream" upload --redis "$URL" --label Limes "$@" 2>/dev/null
stored() { v=$(redis-cli -s "$SOCK" hget fs:counters stored 2>/dev/null); echo "${v:-0}"; }
wait_for 30 "[ \"\$(redis-cli -s $SOCK hget fs:counters stored)\" = 3 ]"

# The private Redis keeps each image's hash, feature blob included, as one listpack
# (deploy/redis.conf says why), not as a hash table.
encodings=$(redis-cli -s "$SOCK" --scan --pattern 'fs:image:*' | while read -r key; do
    echo "$(redis-cli -s "$SOCK" object encoding "$key") $(redis-cli -s "$SOCK" hstrlen "$key" features)"
done | sort | uniq -c | tr -s ' ')
if [ "$encodings" = " 3 listpack 5120" ]; then
    pass data_dir_image_hashes_compact
else
    fail data_dir_image_hashes_compact "encodings and feature lengths: $encodings"
fi

# ...has every setting of deploy/redis.conf, the one definition of them (a size in gb as
# CONFIG GET says it, in bytes)...
settings_off=$(grep -v '^#' deploy/redis.conf | while read -r name value; do
    [ -n "$name" ] || continue
    case $value in '""') value="" ;; *gb) value=$((${value%gb} * 1073741824)) ;; esac
    got=$(redis-cli -s "$SOCK" config get "$name" | sed -n 2p)
    [ "$got" = "$value" ] || printf ' %s is "%s", not "%s";' "$name" "$got" "$value"
done)
if [ "$(grep -c '^[a-z]' deploy/redis.conf)" -ge 8 ] && [ -z "$settings_off" ]; then
    pass data_dir_redis_settings_from_conf
else
    fail data_dir_redis_settings_from_conf "$settings_off"
fi

# ...and takes its memory in transparent huge pages (deploy/redis.conf says why): after a
# 24 MB value, some of its memory is in huge pages, where Redis's own default refuses them.
why=$(huge_pages_skip)
if [ -n "$why" ]; then
    echo "skip data_dir_redis_huge_pages: $why"
else
    redis_pid=$(pgrep -f "redis-server unixsocket:$SOCK" | head -n 1)
    huge_kb=$(redis_huge_kb "$redis_pid" redis-cli -s "$SOCK")
    if [ "${huge_kb:-0}" -ge 2048 ]; then
        pass data_dir_redis_huge_pages
    else
        fail data_dir_redis_huge_pages "Redis (pid ${redis_pid:-none}) has ${huge_kb:-no} kB in huge pages"
    fi
fi

"$B/fruitstream" run --data-dir "$D" --size 100 --workers 1 --weights "$WEIGHTS" "$T/more" \
    >"$T/run2.log" 2>&1
rc=$?
if [ "$rc" = 1 ] && grep -q "data directory $D is in use.*$URL" "$T/run2.log" &&
    ! grep -q "private Redis on" "$T/run2.log" && [ "$(stored)" = 3 ]; then
    pass data_dir_second_pipeline_refused
else
    fail data_dir_second_pipeline_refused "rc $rc, stored $(stored): $(tail -n 2 "$T/run2.log")"
fi

"$B/fruitstream" status --data-dir "$D" --json >"$T/status.json" 2>"$T/status.err"
src=$?
"$B/fruitstream" export --data-dir "$D" --out "$T/live.csv" 2>"$T/export.err"
erc=$?
if [ "$src" = 0 ] && grep -q '"stored":3' "$T/status.json" && [ "$erc" = 0 ] &&
    [ "$(grep -c Limes "$T/live.csv")" = 3 ] &&
    grep -q "reading from its Redis at $URL" "$T/status.err" &&
    grep -q "reading from its Redis at $URL" "$T/export.err" &&
    ! grep -q "private Redis on" "$T/status.err" "$T/export.err"; then
    pass data_dir_readers_use_the_running_redis
else
    fail data_dir_readers_use_the_running_redis "status rc $src $(head -c 200 "$T/status.json") $(cat "$T/status.err"); export rc $erc $(cat "$T/export.err")"
fi

# kill -9 of the service: its Redis, sink, ventilator and worker get SIGTERM from the kernel
# (the parent's death) and stop; the Redis holds DIR until it has flushed its file and
# exited. Then DIR is free, and holds every result.
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
if wait_for 30 "! pgrep -f 'fruitstream-$SERVE_PID\.'"; then
    pass data_dir_children_stop_with_a_killed_parent
else
    fail data_dir_children_stop_with_a_killed_parent "still running: $(pgrep -fa "fruitstream-$SERVE_PID\." | cut -c1-80 | paste -sd';')"
    pkill -KILL -f "fruitstream-$SERVE_PID\."
fi
"$B/fruitstream" run --data-dir "$D" --size 100 --workers 1 --weights "$WEIGHTS" "$T/more" \
    >"$T/run3.log" 2>&1
rc3=$?
"$B/fruitstream" export --data-dir "$D" --out "$T/all.csv" 2>"$T/export2.err"
if [ "$rc3" = 0 ] && grep -q "failed: 0" "$T/run3.log" && [ "$(grep -c Limes "$T/all.csv")" = 3 ] &&
    [ "$(grep -c Kiwi "$T/all.csv")" = 2 ] && grep -q "private Redis on" "$T/export2.err"; then
    pass data_dir_free_once_its_redis_is_gone
else
    fail data_dir_free_once_its_redis_is_gone "run rc $rc3: $(tail -n 2 "$T/run3.log"); rows: $(grep -c , "$T/all.csv")"
fi

# A lock file planted as a FIFO or a link: refused at once with its name, never waited on
# (a FIFO opened for reading blocks until a writer comes) nor followed.
mkdir -p "$T/fifo" "$T/link"
mkfifo "$T/fifo/fruitstream.lock"
ln -s "$T/elsewhere" "$T/link/fruitstream.lock"
timeout 20 "$B/fruitstream" run --data-dir "$T/fifo" --size 100 --workers 1 --weights "$WEIGHTS" \
    "$T/more" >"$T/fifo.log" 2>&1
frc=$?
timeout 20 "$B/fruitstream" status --data-dir "$T/fifo" >/dev/null 2>>"$T/fifo.log"
src=$?
timeout 20 "$B/fruitstream" status --data-dir "$T/link" >/dev/null 2>"$T/link.log"
lrc=$?
if [ "$frc" = 1 ] && [ "$src" = 1 ] && [ "$lrc" = 1 ] && [ ! -e "$T/elsewhere" ] &&
    [ "$(grep -c "cannot open $T/fifo/fruitstream.lock as a regular file" "$T/fifo.log")" = 2 ] &&
    grep -q "cannot open $T/link/fruitstream.lock as a regular file" "$T/link.log"; then
    pass data_dir_planted_lock_file_refused
else
    fail data_dir_planted_lock_file_refused "run rc $frc, status rc $src / $lrc: $(cat "$T/fifo.log" "$T/link.log" | tail -n 3)"
fi
