# link_loops.sh -- a tree whose links lead back into itself (two links to `.`, one to the
# folder above), as anyone who can write in a watched or listed folder can make. With
# --dir and with --watch the ventilator walks each folder once: the two real images are
# uploaded once each, under their real paths, a warning names each folder passed over, and
# SIGTERM stops it at once. Before, the walk took 2^depth paths: it never ended, ignored
# SIGTERM, and --dir queued over 200,000 entries a second for one image.
. tests/integration/lib.sh
set -- $(ls "$DATA/Kiwi"/*.jpg | head -n 2)
mkdir -p "$T/tree/sub"
cp "$1" "$T/tree/a.jpg"
cp "$2" "$T/tree/sub/b.jpg"
ln -s . "$T/tree/l1"
ln -s . "$T/tree/l2"
ln -s .. "$T/tree/sub/up"
start_redis || { fail link_loops_redis "redis-server did not start"; exit 1; }

# stopped: SIGTERM to the ventilator, which must be gone within 5 s
stopped() {
    kill -TERM "$VENT_PID"
    i=0
    while kill -0 "$VENT_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    ! kill -0 "$VENT_PID" 2>/dev/null
}

start_ventilator --dir "$T/tree"
wait_for 20 "grep -q 'uploaded' $T/ventilator.log"
sleep 1
keys=$(rcli xrange fs:uploads - + | grep -c '^/')
if [ "$(rcli xlen fs:uploads)" = 2 ] && grep -q "uploaded 2 images" "$T/ventilator.log" &&
    [ "$(grep -c 'walked already' "$T/ventilator.log")" -ge 3 ] && stopped; then
    pass link_loops_dir_walks_each_folder_once
else
    fail link_loops_dir_walks_each_folder_once "$(rcli xlen fs:uploads) entries ($keys paths); $(grep -v 'walked already' "$T/ventilator.log" | tail -n 2 | tr '\n' ' ')"
fi
kill -9 "$VENT_PID" 2>/dev/null
rcli del fs:uploads >/dev/null

start_ventilator --watch "$T/tree"
if wait_for 20 "grep -q 'watching ' $T/ventilator.log" &&
    grep -q "watching .*/tree: 2 files to take" "$T/ventilator.log" &&
    wait_for 20 "[ \"\$(redis-cli -s $T/redis.sock xlen fs:uploads)\" = 2 ]" && sleep 1 &&
    [ "$(rcli xlen fs:uploads)" = 2 ] && stopped; then
    pass link_loops_watch_walks_each_folder_once
else
    fail link_loops_watch_walks_each_folder_once "$(rcli xlen fs:uploads) entries; $(grep -v 'walked already' "$T/ventilator.log" | tail -n 2 | tr '\n' ' ')"
fi
kill -9 "$VENT_PID" 2>/dev/null || true # stopped already, when the check passed
