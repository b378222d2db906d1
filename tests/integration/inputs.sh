# inputs.sh -- every way in: the ventilator's --dir (recursive, *.jpg/*.jpeg, label = parent
# folder, symbolic links to folders and files followed) and --stdin (PATH or
# PATH<TAB>LABEL), and `fruitstream upload` with --key and --label; each image is stored
# under the expected key and label.
. tests/integration/lib.sh

mkdir -p "$T/in/Apple/deeper" "$T/in/Pear" "$T/other" "$T/elsewhere"
set -- $(ls "$DATA/Kiwi"/*.jpg | head -n 8) # no spaces in these paths
cp "$1" "$T/in/Apple/a1.jpg"
cp "$2" "$T/in/Apple/a2.JPEG"
cp "$3" "$T/in/Apple/deeper/a3.jpg"
cp "$4" "$T/in/Pear/p1.jpg"
echo "not an image" >"$T/in/Pear/notes.txt"
cp "$5" "$T/other/s1.jpg"
cp "$6" "$T/other/s2.jpg"
cp "$7" "$T/other/u1.jpg"
cp "$8" "$T/elsewhere/l1.jpg"
ln -s "$T/elsewhere" "$T/in/Linked"
ln -s "$T/elsewhere/l1.jpg" "$T/in/Pear/p2.jpg"

start_redis || { fail inputs_redis "redis-server did not start"; exit 1; }
start_sink
start_worker w1 --size 100
start_ventilator --dir "$T/in" --allow-path "$T/elsewhere"
if wait_for 60 "[ \$(redis-cli -s $T/redis.sock hget fs:counters stored) = 6 ]" &&
    [ "$(rcli hget "fs:image:$T/in/Apple/a2.JPEG" label)" = Apple ] &&
    [ "$(rcli hget "fs:image:$T/in/Linked/l1.jpg" label)" = Linked ] &&
    [ "$(rcli hget "fs:image:$T/in/Pear/p2.jpg" status)" = ok ] &&
    [ "$(rcli hget "fs:image:$T/in/Apple/deeper/a3.jpg" label)" = deeper ] &&
    [ "$(rcli hget "fs:image:$T/in/Pear/p1.jpg" label)" = Pear ] &&
    [ "$(rcli exists "fs:image:$T/in/Pear/notes.txt")" = 0 ]; then
    pass inputs_dir_recursive_with_folder_labels
else
    fail inputs_dir_recursive_with_folder_labels "stored=$(counter stored) labels: $(rcli hgetall fs:labels | paste -sd' ')"
fi
kill -TERM $VENT_PID
wait $VENT_PID 2>/dev/null

printf '%s\n%s\tStone fruit\n' "$T/other/s1.jpg" "$T/other/s2.jpg" >"$T/stdin.list"
# one task per message here, the rest of the tests use the default of 4
bg ventilator2 sh -c "exec '$B/fruitstream-ventilator' --tasks 'ipc://$T/tasks' --tasks-per-message 1 --allow-path '$T/other' <'$T/stdin.list' --stdin"
if wait_for 60 "[ \$(redis-cli -s $T/redis.sock hget fs:counters stored) = 8 ]" &&
    [ "$(rcli hget "fs:image:$T/other/s1.jpg" label)" = other ] &&
    [ "$(rcli hget "fs:image:$T/other/s2.jpg" label)" = "Stone fruit" ]; then
    pass inputs_stdin_with_optional_labels
else
    fail inputs_stdin_with_optional_labels "stored=$(counter stored) s2 label '$(rcli hget "fs:image:$T/other/s2.jpg" label)'"
fi

"$B/fruitstream" upload --key app/upload-1 --label Kiwi "$T/other/u1.jpg" 2>/dev/null
if wait_for 60 "[ \$(redis-cli -s $T/redis.sock hget fs:counters stored) = 9 ]" &&
    [ "$(rcli hget fs:image:app/upload-1 label)" = Kiwi ] &&
    [ "$(rcli exists fs:blob:app/upload-1)" = 0 ] && [ "$(rcli xlen fs:uploads)" = 0 ]; then
    pass inputs_upload_with_key_and_label
else
    fail inputs_upload_with_key_and_label "stored=$(counter stored) label '$(rcli hget fs:image:app/upload-1 label)' blob left $(rcli exists fs:blob:app/upload-1)"
fi
