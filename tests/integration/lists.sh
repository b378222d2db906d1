# lists.sh -- what a list of images can hold that is not a list of images. A --list that
# cannot be read (here a folder) is an error, exit status 1, where it used to upload
# nothing and exit 0 as if the list were empty. A line holding a NUL byte is refused with
# an error naming the line, where it used to be cut at the NUL (another key, its label
# dropped); the other lines are uploaded. `fruitstream upload` of a folder says so (it
# said "Input/output error"). --dir and --watch given a file name their own option.
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
