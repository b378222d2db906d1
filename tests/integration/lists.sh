# lists.sh -- what a list of images can hold that is not a list of images. A --list that
# cannot be read (here a folder) is an error, exit status 1, where it used to upload
# nothing and exit 0 as if the list were empty. A line holding a NUL byte is refused with
# an error naming the line, where it used to be cut at the NUL (another key, its label
# dropped); the other lines are uploaded. `fruitstream upload` of a folder says so (it
# said "Input/output error"). --dir and --watch given a file name their own option. A walk
# counts what it queued and names what it skips.
. tests/integration/lib.sh
set -- $(ls "$DATA/Kiwi"/*.jpg | head -n 2)
mkdir -p "$T/in"
cp "$1" "$T/in/a.jpg"
cp "$2" "$T/in/b.jpg"
start_redis || { fail lists_redis "redis-server did not start"; exit 1; }

timeout 20 "$B/fruitstream-ventilator" --tasks "ipc://$T/tasks" --list "$T/in" 2>"$T/folder.log"
rc=$?
if [ $rc = 1 ] && grep -q "error $T/in: Is a directory" "$T/folder.log"; then
    pass lists_unreadable_list_is_an_error
else
    fail lists_unreadable_list_is_an_error "exit $rc: $(tail -n 1 "$T/folder.log")"
fi

printf '%s\0EXTRA\tforged\n%s\n' "$T/in/a.jpg" "$T/in/b.jpg" >"$T/nul.list"
start_ventilator --list "$T/nul.list" --allow-path "$T/in"
wait_for 20 "grep -q 'ventilator: tasks on' $T/ventilator.log"
if grep -q "nul.list:1: a NUL byte in the line; refused" "$T/ventilator.log" &&
    [ "$(rcli xlen fs:uploads)" = 1 ] && rcli xrange fs:uploads - + | grep -qx "$T/in/b.jpg" &&
    ! rcli xrange fs:uploads - + | grep -q "a.jpg"; then
    pass lists_nul_line_refused_others_uploaded
else
    fail lists_nul_line_refused_others_uploaded "$(rcli xrange fs:uploads - + | tr '\n' ' ' | head -c 300)"
fi

"$B/fruitstream" upload "$T/in" 2>"$T/upload.err"
rc=$?
if [ $rc = 1 ] && grep -q "$T/in: Is a directory" "$T/upload.err"; then
    pass lists_upload_of_a_folder_says_so
else
    fail lists_upload_of_a_folder_says_so "exit $rc: $(head -n 1 "$T/upload.err")"
fi

# --dir and --watch given a file: the error names the option given (it named --allow-path).
timeout 5 "$B/fruitstream-ventilator" --tasks "ipc://$T/tasks" --watch "$T/in/a.jpg" 2>"$T/watch.err"
rc1=$?
timeout 5 "$B/fruitstream-ventilator" --tasks "ipc://$T/tasks" --dir "$T/in/a.jpg" 2>"$T/dir.err"
rc2=$?
if [ $rc1 = 2 ] && [ $rc2 = 2 ] && grep -q -- "--watch $T/in/a.jpg: not a folder" "$T/watch.err" &&
    grep -q -- "--dir $T/in/a.jpg: not a folder" "$T/dir.err"; then
    pass lists_dir_and_watch_name_their_option
else
    fail lists_dir_and_watch_name_their_option "exit $rc1, $rc2: $(head -n 1 "$T/watch.err") / $(head -n 1 "$T/dir.err")"
fi

# A tree holding what a walk cannot take: a path too long for a key (over 1,024 bytes), one
# too long for the system (PATH_MAX), a folder nested deeper than 64. `run` counts only the
# images it queued ("1 images from", where it counted the refused key too), and the walk
# names each path it skips, where the last two were skipped without a word.
mkdir -p "$T/tree/ok"
cp "$1" "$T/tree/ok/a.jpg" # copied from it below: $1 may be relative (SHARED=../shared)
long=$(head -c 200 /dev/zero | tr '\0' d)
(cd "$T/tree" && for i in 1 2 3 4 5 6; do mkdir "$long" && cd "$long" || exit 1; done &&
    cp "$T/tree/ok/a.jpg" key.jpg)
(cd "$T/tree" && mkdir far && cd far && for i in $(seq 21); do mkdir "$long" && cd "$long" ||
    exit 1; done && cp "$T/tree/ok/a.jpg" far.jpg)
(cd "$T/tree" && for i in $(seq 66); do mkdir deep && cd deep || exit 1; done &&
    cp "$T/tree/ok/a.jpg" deep.jpg)
timeout 120 "$B/fruitstream" run --data-dir "$T/run-data" --size 100 --workers 1 \
    --weights "$WEIGHTS" "$T/tree" >"$T/run.out" 2>"$T/run.log"
rc=$?
if [ $rc = 0 ] && grep -q "info 1 images from $T/tree" "$T/run.log" &&
    grep -q "key \"$T/tree/ddd.*refused: 1238 bytes" "$T/run.log" &&
    grep -q "warn skipped, a path of 4096 bytes or more: $T/tree/far/ddd" "$T/run.log" &&
    grep -q "warn skipped, folders nested deeper than 64: $T/tree/deep/deep/" "$T/run.log"; then
    pass lists_walk_counts_queued_and_names_skipped
else
    fail lists_walk_counts_queued_and_names_skipped "exit $rc: $(grep -E 'images from|refused|skipped' "$T/run.log" | cut -c1-200 | tr '\n' ' ')"
fi
start_ventilator --watch "$T/tree"
if wait_for 20 "grep -q 'watching ' $T/ventilator.log" &&
    grep -q "warn skipped, a path of 4096 bytes or more: $T/tree/far/ddd" "$T/ventilator.log" &&
    grep -q "warn skipped, folders nested deeper than 64: $T/tree/deep/deep/" "$T/ventilator.log"; then
    pass lists_watch_names_skipped
else
    fail lists_watch_names_skipped "$(grep -E 'watching|skipped' "$T/ventilator.log" | cut -c1-200 | tr '\n' ' ')"
fi
kill -9 "$VENT_PID" 2>/dev/null
