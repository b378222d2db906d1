# run_export.sh -- `fruitstream run` end to end on two real classes with its private Redis,
# then what users take away: `pca` and `export` read the kept data directory back; the same
# run again featurizes nothing (every image is stored already). Also
# Ctrl-C: a run interrupted midway stops every process it started and exits 130; while it
# ran, its plumbing was under SCHED_BATCH and its workers not.
. tests/integration/lib.sh

mkdir -p "$T/data"
ln -s "$(cd "$DATA" && pwd)/Kiwi" "$T/data/Kiwi"
ln -s "$(cd "$DATA" && pwd)/Limes" "$T/data/Limes"
N=$(ls "$T"/data/*/*.jpg | wc -l)
unset REDIS_URL

"$B/fruitstream" run --size 100 --workers 2 --k 8 --weights "$WEIGHTS" --data-dir "$T/d" \
    --allow-path "$DATA" "$T/data" >"$T/summary" 2>"$T/run.log"
status=$?
if [ $status -eq 0 ] && grep -qx "images: $N" "$T/summary" && grep -qx "classes: 2" "$T/summary" &&
    grep -qx "duplicates: 0" "$T/summary" &&
    grep -qx "failed: 0" "$T/summary" && grep -q "^pca: n=$N k=8 " "$T/summary"; then
    pass run_summary
else
    fail run_summary "status $status, summary: $(tr '\n' ' ' <"$T/summary") log: $(tail -n 3 "$T/run.log")"
fi

"$B/fruitstream" pca --data-dir "$T/d" >"$T/pca" 2>/dev/null
grep -qx "n: $N" "$T/pca" && grep -qx "k: 8" "$T/pca" && pass run_pca_reads_kept_data ||
    fail run_pca_reads_kept_data "$(tr '\n' ' ' <"$T/pca")"

"$B/fruitstream" export --data-dir "$T/d" --out "$T/out.csv" 2>"$T/export.log"
header=$(head -n 1 "$T/out.csv")
rows=$(($(wc -l <"$T/out.csv") - 1))
bad_labels=$(tail -n +2 "$T/out.csv" | awk -F, '{ n = split($1, p, "/"); if (p[n - 1] != $2) bad++ } END { print bad + 0 }')
if [ "$header" = "path,label,pca_1,pca_2,pca_3,pca_4,pca_5,pca_6,pca_7,pca_8" ] &&
    [ "$rows" -eq "$N" ] && [ "$bad_labels" -eq 0 ]; then
    pass export_csv_rows_and_labels
else
    fail export_csv_rows_and_labels "header '$header', $rows rows of $N, $bad_labels bad labels"
fi

# Projections on a model of every stored vector: each column has mean ~0 over all rows,
# and the variances fall from pca_1 to pca_8.
verdict=$(tail -n +2 "$T/out.csv" | awk -F, '
    { for (j = 3; j <= 10; j++) { s[j] += $j; q[j] += $j * $j } n++ }
    END {
        ok = 1
        for (j = 3; j <= 10; j++) {
            m = s[j] / n; v[j] = q[j] / n - m * m
            if (m * m > 1e-8 * v[j]) ok = 0
            if (j > 3 && v[j] > v[j - 1] * (1 + 1e-6)) ok = 0
        }
        printf "%s var1=%g var8=%g", ok ? "good" : "bad", v[3], v[10]
    }')
case "$verdict" in
good*) pass export_projections_centred_and_ordered ;;
*) fail export_projections_centred_and_ordered "$verdict" ;;
esac

"$B/fruitstream" export --data-dir "$T/d" --with-features --out "$T/both.csv" 2>/dev/null
cols=$(head -n 1 "$T/both.csv" | awk -F, '{ print NF }')
[ "$cols" -eq $((2 + 8 + 1280)) ] && pass export_with_features ||
    fail export_with_features "$cols columns"

# An output that cannot be written (a full disk: /dev/full) is an error that says so, on
# standard output as with --out: a script archiving with --since must not move on.
"$B/fruitstream" export --data-dir "$T/d" >/dev/full 2>"$T/full_stdout.log"
s1=$?
"$B/fruitstream" export --data-dir "$T/d" --out /dev/full 2>"$T/full_out.log"
s2=$?
if [ $s1 = 1 ] && [ $s2 = 1 ] && grep -q "writing standard output: No space left" "$T/full_stdout.log" &&
    grep -q "writing /dev/full: No space left" "$T/full_out.log" &&
    ! grep -q "exported" "$T/full_stdout.log" "$T/full_out.log"; then
    pass export_full_disk_is_an_error
else
    fail export_full_disk_is_an_error "status $s1 and $s2: $(tail -n 1 "$T/full_stdout.log") / $(tail -n 1 "$T/full_out.log")"
fi

# The same run again: every image is stored already, so the ventilator settles each upload
# as a duplicate without a task (ventilator/settle_stored.lua) and nothing is featurized
# again; the kept data is unchanged.
"$B/fruitstream" run --size 100 --workers 2 --k 8 --weights "$WEIGHTS" --data-dir "$T/d" \
    --allow-path "$DATA" "$T/data" >"$T/summary_again" 2>"$T/run_again.log"
status=$?
"$B/fruitstream" status --data-dir "$T/d" >"$T/status_again" 2>/dev/null
if [ $status -eq 0 ] && grep -qx "images: $N" "$T/summary_again" &&
    grep -qx "duplicates: $N" "$T/summary_again" &&
    grep -q "ventilator stopping: 0 tasks sent, 0 re-sent, $N uploads already stored" "$T/run_again.log" &&
    grep -q "stored $N  failed 0  duplicates $N " "$T/status_again" &&
    grep -q "^pca: n=$N k=8 " "$T/summary_again"; then
    pass run_again_featurizes_nothing_stored
else
    fail run_again_featurizes_nothing_stored "status $status: $(tr "\n" " " <"$T/summary_again") $(grep 'ventilator stopping' "$T/run_again.log"); $(sed -n 2p "$T/status_again")"
fi

# Ctrl-C in the middle of a run at S = 224 over more classes.
for c in Banana Cocos Lemon; do ln -s "$(cd "$DATA" && pwd)/$c" "$T/data/$c"; done
"$B/fruitstream" run --workers 2 --weights "$WEIGHTS" --data-dir "$T/d2" --allow-path "$DATA" "$T/data" \
    >"$T/summary2" 2>"$T/run2.log" &
RUN=$!
wait_for 60 "grep -q 'images from' $T/run2.log"
sleep 1
# Meanwhile: the plumbing runs under SCHED_BATCH, so that its wake-ups do not preempt the
# workers (common/defer.h), and the workers keep the normal policy. ps shows B and TS.
class_of() { pgrep -f "$1" | head -n 1 | xargs -r ps -o cls= -p | tr -d ' '; }
classes="sink $(class_of "fruitstream-sink .*fruitstream-$RUN\\.")"
classes="$classes ventilator $(class_of "fruitstream-ventilator .*fruitstream-$RUN\\.")"
classes="$classes redis $(class_of "fruitstream-$RUN.redis.sock")"
classes="$classes worker $(class_of "fruitstream-worker .*fruitstream-$RUN\\.")"
[ "$classes" = "sink B ventilator B redis B worker TS" ] && pass run_plumbing_defers_to_workers ||
    fail run_plumbing_defers_to_workers "scheduling classes: $classes"
kill -INT $RUN
wait $RUN
status=$?
sleep 0.5
left=$(pgrep -f "fruitstream-$RUN\\." | wc -l)
redis_left=$(pgrep -f "fruitstream-$RUN.redis.sock" | wc -l)
files_left=$(ls /tmp/fruitstream-$RUN.* 2>/dev/null | wc -l)
if [ $status -eq 130 ] && [ "$left" -eq 0 ] && [ "$redis_left" -eq 0 ] &&
    [ "$files_left" -eq 0 ] && grep -q "^images: " "$T/summary2"; then
    pass run_ctrl_c_stops_everything
else
    fail run_ctrl_c_stops_everything "status $status, $left processes and $files_left socket files left; $(tail -n 2 "$T/run2.log")"
fi
